"""``tf.data.experimental``: the constants TF1 pipelines use."""
AUTOTUNE = -1


def unbatch():
    """``tf.data.experimental.unbatch()``: for ``dataset.apply``."""
    return lambda dataset: dataset.unbatch()
