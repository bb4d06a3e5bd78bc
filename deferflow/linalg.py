"""The ``tf.linalg`` namespace (the matrix products deferflow implements)."""
from deferflow.ops.array_ops import matrix_transpose  # noqa: F401
from deferflow.ops.array_ops import matrix_transpose as transpose  # noqa: F401
from deferflow.ops.math_ops import einsum, global_norm, matmul, tensordot  # noqa: F401
from deferflow.ops.array_ops import matrix_band_part as band_part  # noqa: F401,E402
