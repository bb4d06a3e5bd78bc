"""Where optimizers put their own variables: Adam's ``beta1_power``/``beta2_power`` go under the name scope
``minimize`` was called in (TF's ``init_scope`` keeps it), slots under the primary's variable name."""
import numpy as np
import pytest

import deferflow as tf


def _names(lib, resource):
    graph = lib.Graph()
    with graph.as_default():
        w = lib.get_variable("w", initializer=np.ones((3, 2), np.float32), use_resource=resource)
        with lib.variable_scope("x"):
            with lib.name_scope("inner"):
                lib.train.AdamOptimizer(0.1).minimize(lib.reduce_sum(w * w))
        with lib.name_scope("train"):
            lib.train.AdamOptimizer(0.1, name="Second").minimize(lib.reduce_sum(w * w * 2.0))
        lib.train.AdamOptimizer(0.1, name="Third").minimize(lib.reduce_sum(w * w * 3.0))
        return sorted(v.op.name for v in lib.global_variables())


@pytest.mark.parametrize("resource", [False, True], ids=["ref", "resource"])
def test_adam_accumulators_follow_the_name_scope(resource, tf_real):
    ours = _names(tf, resource)
    assert "x/inner/beta1_power" in ours and "train/beta2_power" in ours and "beta1_power" in ours
    assert ours == _names(tf_real, resource)


def test_adam_accumulators_follow_the_name_scope_without_tensorflow():
    names = _names(tf, False)
    assert names == sorted(["w", "x/w/Adam", "x/w/Adam_1", "x/inner/beta1_power", "x/inner/beta2_power",
                            "w/Second", "w/Second_1", "train/beta1_power", "train/beta2_power",
                            "w/Third", "w/Third_1", "beta1_power", "beta2_power"])
