"""The ``tf.train`` namespace."""
from deferflow.training.global_step import (assert_global_step, create_global_step, get_global_step,
                                            get_or_create_global_step, global_step)
from deferflow.training.summary_io import summary_iterator
