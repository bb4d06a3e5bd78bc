"""The ``tf.nn`` namespace."""
