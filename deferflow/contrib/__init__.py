"""``tf.contrib``: the commonly used parts of TF1's contrib (layers, slim, framework, rnn, losses).

Reached lazily as ``tf.contrib`` from ``import deferflow as tf``; a contrib module or symbol deferflow
does not provide raises ``AttributeError("deferflow does not implement tf.contrib.X")``.
"""
from deferflow.contrib import framework, layers, losses, rnn, slim
from deferflow.contrib._missing import missing as _missing


def __getattr__(name):
    raise _missing("tf.contrib", name)
