"""TF1 iterators: ``IteratorV2``/``OneShotIterator`` resources, ``MakeIterator`` initializers, ``IteratorGetNext``.

The iterator's position lives in the session (``IteratorGetNext`` raises ``OutOfRangeError`` "End of sequence"
when it runs out), so each session iterates on its own.
"""
from deferflow.data import structure as nest
from deferflow.data.function import DatasetFactory
from deferflow.framework import dtypes, ops
from deferflow.framework import tensor_shape as ts
from deferflow.framework.ops import apply_op, convert_to_tensor


class Iterator:
    """``tf.data.Iterator``: yields a dataset's elements as tensors, one element per ``Session.run``."""

    def __init__(self, iterator_resource, initializer, output_types, output_shapes, output_classes=None):
        self._iterator_resource = iterator_resource
        self._initializer = initializer
        self._types, self._shapes = output_types, output_shapes

    output_types = property(lambda self: self._types)
    output_shapes = property(lambda self: self._shapes)

    @property
    def output_classes(self):
        return nest.map_structure(lambda _: ops.Tensor, self._types)

    @property
    def initializer(self):
        if self._initializer is None:
            raise ValueError("The iterator does not have an initializer. This means it was likely created using "
                             "`tf.data.Dataset.make_one_shot_iterator()`. For an initializable iterator, use "
                             "`tf.data.Dataset.make_initializable_iterator()` instead.")
        return self._initializer

    def _attrs(self):
        return {"output_types": nest.flatten(self._types), "output_shapes": nest.flatten(self._shapes)}

    @staticmethod
    def from_structure(output_types, output_shapes=None, shared_name=None, output_classes=None):
        """An iterator for any dataset of this structure; ``make_initializer(dataset)`` points it at one."""
        output_types = nest.map_structure(dtypes.as_dtype, output_types)
        if output_shapes is None:
            output_shapes = nest.map_structure(lambda _: ts.unknown_shape(), output_types)
        else:
            output_shapes = _pack_shapes(output_types, output_shapes)
        res = apply_op("IteratorV2", name="IteratorV2", shared_name=shared_name or "", container="",
                       output_types=nest.flatten(output_types), output_shapes=nest.flatten(output_shapes))
        return Iterator(res, None, output_types, output_shapes)

    @staticmethod
    def from_string_handle(string_handle, output_types, output_shapes=None, output_classes=None):
        """An iterator that runs whichever iterator the fed ``string_handle`` names (see ``string_handle()``)."""
        output_types = nest.map_structure(dtypes.as_dtype, output_types)
        output_shapes = nest.map_structure(lambda _: ts.unknown_shape(), output_types) if output_shapes is None \
            else _pack_shapes(output_types, output_shapes)
        handle = convert_to_tensor(string_handle, dtype=dtypes.string)
        res = apply_op("IteratorFromStringHandleV2", string_handle=handle, output_types=nest.flatten(output_types),
                       output_shapes=nest.flatten(output_shapes))
        return Iterator(res, None, output_types, output_shapes)

    def make_initializer(self, dataset, name=None):
        """The op that (re)starts this iterator on ``dataset``'s first element."""
        if not nest.same_structure(self._types, dataset.output_types):
            raise TypeError(f"Expected output types {nest.describe(self._types)} but got dataset with output types "
                            f"{nest.describe(dataset.output_types)}.")
        for mine, theirs in zip(nest.flatten(self._types), nest.flatten(dataset.output_types)):
            if mine != theirs:
                raise TypeError(f"Expected output types {nest.describe(self._types)} but got dataset with output "
                                f"types {nest.describe(dataset.output_types)}.")
        for mine, theirs in zip(nest.flatten(self._shapes), nest.flatten(dataset.output_shapes)):
            if not mine.is_compatible_with(theirs):
                raise TypeError(f"Expected output shapes compatible with {nest.describe(self._shapes)} but got "
                                f"dataset with output shapes {nest.describe(dataset.output_shapes)}.")
        return apply_op("MakeIterator", name=name or "make_initializer", dataset=dataset._variant_tensor,
                        iterator=self._iterator_resource)

    def get_next(self, name=None):
        """The next element as a structure of tensors; running past the end raises ``OutOfRangeError``."""
        out = apply_op("IteratorGetNext", name=name or "IteratorGetNext", iterator=self._iterator_resource,
                       **self._attrs())
        flat = out if isinstance(out, list) else [out]
        return nest.pack(self._types, flat)

    def string_handle(self, name=None):
        """A string tensor naming this iterator, to feed to ``Iterator.from_string_handle``."""
        return apply_op("IteratorToStringHandle", name=name or "IteratorToStringHandle",
                        resource_handle=self._iterator_resource)


def _pack_shapes(types, shapes):
    if not nest.is_nested(types):
        return ts.as_shape(shapes)
    return nest.pack(types, [ts.as_shape(s) for s in nest.flatten(shapes)])


def initializable_iterator(dataset, shared_name=None):
    res = apply_op("IteratorV2", name="IteratorV2", shared_name=shared_name or "", container="",
                   **dataset._flat_attrs())
    init = apply_op("MakeIterator", name="MakeIterator", dataset=dataset._variant_tensor, iterator=res)
    return Iterator(res, init, dataset.output_types, dataset.output_shapes)


def one_shot_iterator(dataset):
    factory = DatasetFactory(dataset._variant_tensor)
    res = apply_op("OneShotIterator", name="OneShotIterator", dataset_factory=factory.attr, container="",
                   shared_name="", **dataset._flat_attrs())
    return Iterator(res, None, dataset.output_types, dataset.output_shapes)


def make_one_shot_iterator(dataset):
    """``tf.compat.v1.data.make_one_shot_iterator(dataset)``."""
    return dataset.make_one_shot_iterator()


def make_initializable_iterator(dataset, shared_name=None):
    """``tf.compat.v1.data.make_initializable_iterator(dataset)``."""
    return dataset.make_initializable_iterator(shared_name)


def get_output_types(dataset_or_iterator):
    return dataset_or_iterator.output_types


def get_output_shapes(dataset_or_iterator):
    return dataset_or_iterator.output_shapes


def get_output_classes(dataset_or_iterator):
    return dataset_or_iterator.output_classes
