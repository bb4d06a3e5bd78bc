"""``tf.data.experimental``: the constants TF1 pipelines use."""
AUTOTUNE = -1
