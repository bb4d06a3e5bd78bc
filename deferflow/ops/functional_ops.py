"""``tf.map_fn``, ``tf.scan``, ``tf.foldl`` and ``tf.foldr``: while loops over the first dimension,
reading elements from and writing results to TensorArrays as TensorFlow builds them."""
from deferflow.framework import ops
from deferflow.framework import tensor_shape as ts
from deferflow.ops import nest
from deferflow.ops.control_flow_ops import while_loop
from deferflow.ops.tensor_array_ops import TensorArray


def _length(elems_flat):
    from deferflow.ops import array_ops
    shape = elems_flat[0].shape
    if shape.ndims is not None and shape.ndims < 1:
        raise ValueError("Elements in elems must be 1+ dimensional Tensors, not scalars")
    n = shape[0].value if shape.ndims else None
    return n if n is not None else array_ops.shape(elems_flat[0])[0]


def _static_length(elems_flat):
    d = ts.Dimension(None)
    for e in elems_flat:
        if e.shape.ndims:
            d = d.merge_with(e.shape[0])
    return d.value


def _unstacked(elems_flat, n):
    return [TensorArray(dtype=e.dtype, size=n, dynamic_size=False, infer_shape=True).unstack(e) for e in elems_flat]


def _set_lead(results, n_static):
    for r in results:
        if r.shape.ndims is not None:
            r._shape = ts.TensorShape([n_static]).concatenate(ts.TensorShape(r.shape.as_list()[1:]))


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False, infer_shape=True,
           name=None, fn_output_signature=None):
    """``tf.map_fn``: ``fn`` applied to each slice ``elems[i]``, results stacked along a new first axis.

    ``dtype`` (or ``fn_output_signature``) gives the output structure and dtypes when it differs from
    ``elems``'.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable. Received: {fn}")
    dtype = dtype if dtype is not None else fn_output_signature
    in_graph_mode = True
    parallel_iterations = parallel_iterations or (10 if in_graph_mode else 1)
    elems_flat = nest.flatten(elems)
    with ops.name_scope(name, "map", elems_flat):
        elems_flat = [ops.convert_to_tensor(e, name="elem") for e in elems_flat]
        out_struct = dtype if dtype is not None else nest.pack_sequence_as(elems, [e.dtype for e in elems_flat])
        dtype_flat = nest.flatten(out_struct)
        n = _length(elems_flat)
        elems_ta = _unstacked(elems_flat, n)
        i = ops.convert_to_tensor(0)
        accs_ta = [TensorArray(dtype=dt, size=n, dynamic_size=False, infer_shape=infer_shape) for dt in dtype_flat]

        def compute(i, tas):
            packed = nest.pack_sequence_as(elems, [ta.read(i) for ta in elems_ta])
            out = fn(packed)
            nest.assert_same_structure(out_struct, out, check_types=False)
            tas = [ta.write(i, v) for ta, v in zip(tas, nest.flatten(out))]
            return i + 1, tas

        _, r_a = while_loop(lambda i, _: i < n, compute, (i, accs_ta), parallel_iterations=parallel_iterations,
                            back_prop=back_prop, swap_memory=swap_memory, maximum_iterations=n)
        results = [r.stack() for r in r_a]
        _set_lead(results, _static_length(elems_flat))
        return nest.pack_sequence_as(out_struct, results)


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, infer_shape=True,
         reverse=False, name=None):
    """``tf.scan``: the running accumulation ``a = fn(a, elems[i])`` of every step, stacked."""
    if not callable(fn):
        raise TypeError(f"fn must be callable. Received: {fn}")
    elems_flat = nest.flatten(elems)
    with ops.name_scope(name, "scan", elems_flat):
        elems_flat = [ops.convert_to_tensor(e, name="elem") for e in elems_flat]
        n = _length(elems_flat)
        elems_ta = [TensorArray(dtype=e.dtype, size=n, dynamic_size=False,
                                element_shape=ts.TensorShape(e.shape.as_list()[1:]) if e.shape.ndims else None,
                                infer_shape=True).unstack(e) for e in elems_flat]
        if initializer is None:
            a_flat = [ta.read(n - 1 if reverse else 0) for ta in elems_ta]
            i = 1
        else:
            a_flat = [ops.convert_to_tensor(x) for x in nest.flatten(initializer)]
            i = 0
        accs_ta = [TensorArray(dtype=a.dtype, size=n, element_shape=a.shape if infer_shape else None,
                               dynamic_size=False, infer_shape=infer_shape) for a in a_flat]
        if initializer is None:
            accs_ta = [ta.write(n - 1 if reverse else 0, a) for ta, a in zip(accs_ta, a_flat)]
        structure = elems if initializer is None else initializer

        def compute(i, a_flat, tas):
            packed_elems = nest.pack_sequence_as(elems, [ta.read(i) for ta in elems_ta])
            a_out = fn(nest.pack_sequence_as(structure, a_flat), packed_elems)
            nest.assert_same_structure(structure, a_out, check_types=False)
            flat_out = nest.flatten(a_out)
            tas = [ta.write(i, v) for ta, v in zip(tas, flat_out)]
            return (i - 1 if reverse else i + 1), flat_out, tas

        if reverse:
            initial_i = n - 1 - i
            condition = lambda i, _1, _2: i >= 0  # noqa: E731
        else:
            initial_i = i
            condition = lambda i, _1, _2: i < n  # noqa: E731
        _, _, r_a = while_loop(condition, compute, (initial_i, a_flat, accs_ta),
                               parallel_iterations=parallel_iterations, back_prop=back_prop,
                               swap_memory=swap_memory, maximum_iterations=n)
        results = [r.stack() for r in r_a]
        _set_lead(results, _static_length(elems_flat))
        return nest.pack_sequence_as(structure, results)


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, name=None):
    """``tf.foldl``: ``a = fn(a, elems[i])`` for i = 0, 1, ...; returns the final ``a``."""
    if not callable(fn):
        raise TypeError(f"{fn.__name__ if hasattr(fn, '__name__') else fn} is not callable. Please provide a "
                        "callable function.")
    elems_flat = nest.flatten(elems)
    with ops.name_scope(name, "foldl", elems_flat):
        elems_flat = [ops.convert_to_tensor(e, name="elem") for e in elems_flat]
        n = _length(elems_flat)
        elems_ta = _unstacked(elems_flat, n)
        if initializer is None:
            a = nest.pack_sequence_as(elems, [ta.read(0) for ta in elems_ta])
            i = ops.convert_to_tensor(1)
        else:
            a = initializer
            i = ops.convert_to_tensor(0)

        def compute(i, a):
            elem_i = nest.pack_sequence_as(elems, [ta.read(i) for ta in elems_ta])
            return [i + 1, fn(a, elem_i)]

        _, r_a = while_loop(lambda i, a: i < n, compute, [i, a], parallel_iterations=parallel_iterations,
                            back_prop=back_prop, swap_memory=swap_memory, maximum_iterations=n)
        return r_a


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False, name=None):
    """``tf.foldr``: ``a = fn(a, elems[i])`` for i = n-1, ..., 0; returns the final ``a``."""
    if not callable(fn):
        raise TypeError(f"{fn.__name__ if hasattr(fn, '__name__') else fn} is not callable. Please provide a "
                        "callable function.")
    elems_flat = nest.flatten(elems)
    with ops.name_scope(name, "foldr", elems_flat):
        elems_flat = [ops.convert_to_tensor(e, name="elem") for e in elems_flat]
        n = _length(elems_flat)
        elems_ta = _unstacked(elems_flat, n)
        if initializer is None:
            i = n - 1
            a = nest.pack_sequence_as(elems, [ta.read(i) for ta in elems_ta])
        else:
            i = n
            a = initializer

        def compute(i, a):
            i -= 1
            elem = nest.pack_sequence_as(elems, [ta.read(i) for ta in elems_ta])
            return [i, fn(a, elem)]

        _, r_a = while_loop(lambda i, a: i > 0, compute, [i, a], parallel_iterations=parallel_iterations,
                            back_prop=back_prop, swap_memory=swap_memory, maximum_iterations=n)
        return r_a
