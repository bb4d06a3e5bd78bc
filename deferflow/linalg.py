"""The ``tf.linalg`` namespace (the matrix products deferflow implements)."""
from deferflow.ops.array_ops import matrix_transpose  # noqa: F401
from deferflow.ops.array_ops import matrix_transpose as transpose  # noqa: F401
from deferflow.ops.math_ops import einsum, global_norm, matmul, tensordot  # noqa: F401
from deferflow.ops.array_ops import matrix_band_part as band_part  # noqa: F401,E402
from deferflow.ops.linalg_ops import (cholesky, logdet, norm, qr, svd)  # noqa: F401,E402
from deferflow.ops.linalg_ops import log_matrix_determinant as slogdet  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_determinant as det  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_inverse as inv  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_solve as solve  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_triangular_solve as triangular_solve  # noqa: F401,E402
from deferflow.ops.linalg_ops import eye, trace  # noqa: F401,E402
from deferflow.ops.linalg_ops import diag as tensor_diag, diag_part as tensor_diag_part  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_diag as diag, matrix_diag_part as diag_part  # noqa: F401,E402
from deferflow.ops.linalg_ops import matrix_set_diag as set_diag  # noqa: F401,E402
