"""Dataset functions in exported graphs: deferflow writes traced map/filter/flat_map functions and one-shot
iterator factories as TF FunctionDefs, and runs the FunctionDefs of TF-written graphs; tested both ways with
TensorFlow."""
import pytest

import deferflow
import deferflow.data  # noqa: F401 - registers the dataset ops

from test_parsing import example


def _write_records(tf, path, n=10):
    with tf.io.TFRecordWriter(str(path)) as w:
        for i in range(n):
            w.write(example(tf, x=[i, 2 * i], y=[i / 2.0], tags=[b"t%d" % j for j in range(i % 3 + 1)]))


def _pipeline(tf, path, buffer_size):
    k = tf.constant(3, tf.int64, name="k")

    def parse(s):
        f = tf.io.parse_single_example(s, {"x": tf.io.FixedLenFeature([2], tf.int64),
                                           "y": tf.io.FixedLenFeature([], tf.float32),
                                           "tags": tf.io.VarLenFeature(tf.string)})
        return f["x"] * k, f["y"], tf.size(f["tags"].values)
    ds = tf.data.TFRecordDataset(str(path)).map(parse).shuffle(buffer_size, seed=1).batch(3)
    nxt = tf.data.make_one_shot_iterator(ds).get_next()
    for t in nxt:
        tf.add_to_collection("nxt", t)
    return nxt


def _export(tf, tmp_path, buffer_size, name):
    path = tmp_path / "data.tfrecord"
    _write_records(tf, path)
    with tf.Graph().as_default():
        _pipeline(tf, path, buffer_size)
        meta = str(tmp_path / f"{name}.meta")
        tf.train.export_meta_graph(meta)
    return meta


def _drain_meta(tf, meta):
    with tf.Graph().as_default() as g:
        tf.train.import_meta_graph(meta)
        nxt = g.get_collection("nxt")
        out = []
        with tf.Session() as s:
            while True:
                try:
                    out.append([v.tolist() for v in s.run(nxt)])
                except tf.errors.OutOfRangeError:
                    return out


def _direct(tf, tmp_path, buffer_size):
    path = tmp_path / "data.tfrecord"
    _write_records(tf, path)
    with tf.Graph().as_default():
        nxt = _pipeline(tf, path, buffer_size)
        out = []
        with tf.Session() as s:
            while True:
                try:
                    out.append([v.tolist() for v in s.run(nxt)])
                except tf.errors.OutOfRangeError:
                    return out


def _elements(batches):
    return sorted((tuple(x), y, n) for b in batches for x, y, n in zip(*b))


_ROWS = [([3 * i, 6 * i], i / 2.0, i % 3 + 1) for i in range(10)]
EXPECTED = [[[r[0] for r in b], [r[1] for r in b], [r[2] for r in b]] for b in (_ROWS[j:j + 3] for j in range(0, 10, 3))]


def test_tensorflow_written_pipeline_runs_here(tf_real, tmp_path):
    """TF's graph (TFRecordDataset as TensorSliceDataset + FlatMapDataset, parse in a map function, shuffle,
    batch, one-shot iterator) imports and yields TF's batches."""
    meta = _export(tf_real, tmp_path, 1, "tf")
    theirs = _drain_meta(tf_real, meta)
    ours = _drain_meta(deferflow, meta)
    assert ours == theirs == EXPECTED


def test_deferflow_written_pipeline_runs_in_tensorflow(tf_real, tmp_path):
    meta = _export(deferflow, tmp_path, 1, "ours")
    theirs = _drain_meta(tf_real, meta)
    assert theirs == _drain_meta(deferflow, meta) == _direct(deferflow, tmp_path, 1) == EXPECTED


def test_shuffled_pipelines_keep_their_elements_both_ways(tf_real, tmp_path):
    """With a real shuffle buffer both runtimes yield the same elements in batches of three (the orders differ:
    deferflow's shuffle does not reproduce TensorFlow's random stream)."""
    for writer in (tf_real, deferflow):
        meta = _export(writer, tmp_path, 5, f"shuffled_{writer.__name__}")
        for reader in (tf_real, deferflow):
            got = _drain_meta(reader, meta)
            assert [len(b[0]) for b in got] == [3, 3, 3, 1]
            assert _elements(got) == _elements(EXPECTED)
    assert _drain_meta(deferflow, meta) == _drain_meta(deferflow, meta)  # seeded: repeatable here


def _function_library(tf):
    with tf.Graph().as_default() as g:
        k = tf.constant(2, tf.int64, name="k")
        ds = tf.data.Dataset.range(6).map(lambda x: (x * k, tf.cast(x, tf.float32))).filter(
            lambda a, b: a > 2)
        tf.data.make_one_shot_iterator(ds).get_next()
        return g.as_graph_def()


def test_graph_def_library_holds_tf_style_function_defs(tf_real):
    gd = _function_library(deferflow)
    by_name = {f.signature.name: f for f in gd.library.function}
    ops = {n.op: n for n in gd.node}
    map_fn = by_name[ops["MapDataset"].attr["f"].func.name]
    filter_fn = by_name[ops["FilterDataset"].attr["predicate"].func.name]
    factory = by_name[ops["OneShotIterator"].attr["dataset_factory"].func.name]
    assert [a.name for a in map_fn.signature.input_arg][0] == "args_0"
    assert map_fn.signature.name.startswith("__inference_Dataset_map_lambda_")
    assert [a.type for a in map_fn.signature.input_arg] == [deferflow.int64.as_datatype_enum] * 2  # x, captured k
    assert [a.type for a in map_fn.signature.output_arg] == [deferflow.int64.as_datatype_enum,
                                                            deferflow.float32.as_datatype_enum]
    inputs = [i for n in map_fn.node_def for i in n.input]
    assert all(i.count(":") == 2 or i in [a.name for a in map_fn.signature.input_arg] or i.startswith("^")
               for i in inputs), inputs
    assert any(i.endswith(":z:0") for i in inputs + list(map_fn.ret.values()))  # Mul's output arg is z
    assert list(filter_fn.signature.output_arg)[0].type == deferflow.bool.as_datatype_enum
    assert not factory.signature.input_arg and factory.signature.output_arg[0].type == \
        deferflow.variant.as_datatype_enum
    assert {n.op for n in factory.node_def} >= {"RangeDataset", "MapDataset", "FilterDataset"}
    # TensorFlow accepts the library as it is
    with tf_real.Graph().as_default():
        tf_real.import_graph_def(tf_real.GraphDef.FromString(gd.SerializeToString()), name="")
        with tf_real.Session() as s:
            assert [s.run("IteratorGetNext:0") for _ in range(3)] == [4, 6, 8]


def _nested(tf):
    with tf.Graph().as_default():
        k = tf.constant(10, tf.int64, name="k")
        ds = tf.data.Dataset.range(4).flat_map(
            lambda x: tf.data.Dataset.range(x).map(lambda y: y + k * x)).filter(lambda z: tf.equal(z % 2, 0))
        nxt = tf.data.make_one_shot_iterator(ds).get_next(name="out")
        return tf.get_default_graph().as_graph_def(), nxt


def _drain_graph_def(tf, gd):
    gd = tf.GraphDef.FromString(gd.SerializeToString())
    with tf.Graph().as_default():
        tf.import_graph_def(gd, name="")
        out = []
        with tf.Session() as s:
            while True:
                try:
                    out.append(int(s.run("out:0")))
                except tf.errors.OutOfRangeError:
                    return out


@pytest.mark.parametrize("writer", ["deferflow", "tf"])
def test_nested_functions_with_captures_round_trip(tf_real, writer):
    tf = deferflow if writer == "deferflow" else tf_real
    gd, _ = _nested(tf)
    want = [10, 20, 30, 32]
    assert _drain_graph_def(tf_real, gd) == want
    assert _drain_graph_def(deferflow, gd) == want


def test_reexported_import_keeps_its_library(tf_real, tmp_path):
    """A TF-written graph imported here and exported again still runs in TensorFlow."""
    gd, _ = _nested(tf_real)
    with deferflow.Graph().as_default() as g:
        deferflow.import_graph_def(gd, name="")
        with deferflow.Session() as s:
            assert int(s.run("out:0")) == 10  # builds the imported functions here
        again = g.as_graph_def()
    assert sorted(f.signature.name for f in again.library.function) == \
        sorted(f.signature.name for f in gd.library.function)
    assert _drain_graph_def(tf_real, again) == [10, 20, 30, 32]


def test_missing_library_function_is_not_found():
    gd, _ = _nested(deferflow)
    del gd.library.function[:]
    with deferflow.Graph().as_default():
        deferflow.import_graph_def(gd, name="")
        with deferflow.Session() as s:
            with pytest.raises(deferflow.errors.NotFoundError, match="not in the graph's function library"):
                s.run("out:0")


def test_function_def_with_unregistered_op_is_unimplemented():
    gd, _ = _nested(deferflow)
    for f in gd.library.function:
        for n in f.node_def:
            if n.op == "FloorMod":
                n.op = "NoSuchOpAnywhere"
    with deferflow.Graph().as_default():
        deferflow.import_graph_def(gd, name="")
        with deferflow.Session() as s:
            with pytest.raises(deferflow.errors.UnimplementedError,
                               match="cannot build function .*op type NoSuchOpAnywhere is not registered"):
                s.run("out:0")
