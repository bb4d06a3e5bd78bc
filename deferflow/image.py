"""The ``tf.image`` namespace (TF1)."""
from deferflow.ops.image_ops import (ResizeMethod, central_crop, crop_to_bounding_box, flip_left_right, flip_up_down,
                                     pad_to_bounding_box, random_crop, random_flip_left_right, random_flip_up_down,
                                     resize, resize_area, resize_bicubic, resize_bilinear, resize_image_with_crop_or_pad,
                                     resize_images, resize_nearest_neighbor, resize_with_crop_or_pad, rot90, transpose,
                                     transpose_image)
