"""``import deferflow.compat.v1 as tf`` gives the same namespace as ``import deferflow as tf``."""
import sys

import deferflow

sys.modules[__name__] = deferflow
