"""Small data sets bundled with deferflow, so examples run with no download.

``digits.npz`` holds the UCI "Optical Recognition of Handwritten Digits" test set as scikit-learn
ships it (``sklearn.datasets.load_digits``): 1,797 8x8 images of integer pixels 0..16, 10 classes.
Creators: E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository,
https://doi.org/10.24432/C50P49, licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/).
Stored as ``images`` (uint8 [1797, 8, 8]) and ``labels`` (uint8 [1797]) with np.savez_compressed.
"""
import os

import numpy as np

DIGITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits.npz")
DIGITS_SOURCE = ("UCI Optical Recognition of Handwritten Digits (test set, as shipped by scikit-learn), "
                 "E. Alpaydin & C. Kaynak 1998, https://doi.org/10.24432/C50P49, CC BY 4.0")


def load_digits(normalize=True):
    """The handwritten digits: ``(images, labels)``.

    ``images`` is [1797, 8, 8]: float32 in [0, 1] when ``normalize`` (pixel / 16), else the stored
    uint8 counts 0..16. ``labels`` is int32 [1797] with values 0..9.
    """
    with np.load(DIGITS_PATH, allow_pickle=False) as data:
        images, labels = data["images"], data["labels"]
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ValueError(f"{DIGITS_PATH}: unexpected shapes {images.shape}, {labels.shape}")
    images = images.astype(np.float32) / np.float32(16.0) if normalize else images
    return images, labels.astype(np.int32)


def train_test_split(images, labels, test_fraction=0.25, seed=0):
    """A stratified shuffle split: ``(train_images, train_labels), (test_images, test_labels)``.

    Every class gets the same share of held-out examples, so the held-out accuracy is not skewed.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.RandomState(seed)
    test = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        test.extend(idx[:int(round(len(idx) * test_fraction))])
    is_test = np.zeros(len(labels), bool)
    is_test[test] = True
    train_idx, test_idx = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    rng.shuffle(train_idx)
    return (images[train_idx], labels[train_idx]), (images[test_idx], labels[test_idx])
