"""The ``tf.train`` namespace."""
from deferflow.training.global_step import (assert_global_step, create_global_step, get_global_step,
                                            get_or_create_global_step, global_step)
from deferflow.training.summary_io import summary_iterator
from deferflow.training.optimizer import Optimizer
from deferflow.training.optimizers import (AdadeltaOptimizer, AdagradOptimizer, AdamOptimizer, FtrlOptimizer,
                                           GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer)
from deferflow.training.learning_rate_decay import (cosine_decay, exponential_decay, inverse_time_decay,
                                                    linear_cosine_decay, natural_exp_decay, piecewise_constant,
                                                    polynomial_decay)
from deferflow.formats.protos import CheckpointState, SaverDef
from deferflow.training.saver import BulkSaverBuilder, Saver, SaverBuilder  # noqa: F401
from deferflow.training.checkpoint_management import (checkpoint_exists, generate_checkpoint_state_proto,
                                                       get_checkpoint_mtimes, get_checkpoint_state,
                                                       latest_checkpoint, remove_checkpoint,
                                                       update_checkpoint_state)
from deferflow.training.checkpoint_utils import (NewCheckpointReader, init_from_checkpoint, list_variables,
                                                 load_checkpoint, load_variable)
from deferflow.training.meta_graph import export_meta_graph, import_meta_graph  # noqa: E402
from deferflow.framework.graph_io import write_graph  # noqa: E402
from deferflow.formats.proto.example_pb2 import Example, SequenceExample  # noqa: E402
from deferflow.formats.proto.feature_pb2 import (BytesList, Feature, FeatureList, FeatureLists, Features,  # noqa: E402
                                                 FloatList, Int64List)
from deferflow.training.coordinator import Coordinator, LooperThread  # noqa: E402
from deferflow.training.queue_runner import QueueRunner, add_queue_runner, start_queue_runners  # noqa: E402
from deferflow.training.input import (batch, batch_join, input_producer, limit_epochs,  # noqa: E402
                                      range_input_producer, shuffle_batch, shuffle_batch_join,
                                      slice_input_producer, string_input_producer)
