"""``tf.contrib.rnn``: the core RNN cells and static RNN helpers under their contrib names (TF >= 1.2 made
these the same classes as ``tf.nn.rnn_cell``, with ``kernel``/``bias`` variables)."""
from deferflow.contrib._missing import missing as _missing
from deferflow.ops.rnn import static_bidirectional_rnn, static_rnn
from deferflow.ops.rnn_cell import (BasicLSTMCell, BasicRNNCell, DropoutWrapper, GRUCell, LSTMCell, LSTMStateTuple,
                                    MultiRNNCell, RNNCell)


def __getattr__(name):
    raise _missing("tf.contrib.rnn", name)
