"""The one-model-at-a-time baseline records the same rows as the generator."""

import numpy as np
import pytest

from skweights.zoo import sample_hyperparameters

pytest.importorskip("keras")


def test_naive_checkpoints_match_the_generator_at_initialisation():
    from skweights.zoo._images import load_images
    from skweights.zoo._naive import train_naive
    from skweights.zoo._trainer import train_group

    images = load_images("digits")
    configs = sample_hyperparameters(2, seed=4)
    naive = train_naive(configs, images, 2, checkpoints=[0, 2])
    batched = train_group(configs, images, 2, [0, 2])
    for k, rows in enumerate(naive):
        np.testing.assert_array_equal(rows["step"], [0, 2])
        assert rows["weights"].shape == (2, 4970)
        mine = batched["network"] == k
        # same Keras initialisation and the same evaluation before training
        np.testing.assert_allclose(rows["weights"][0], batched["weights"][mine][0], atol=1e-6)
        for key in ("test_accuracy", "test_loss", "train_accuracy", "train_loss"):
            np.testing.assert_allclose(rows[key][0], batched[key][mine][0], rtol=1e-4)
        # training moved the weights (different shuffles, so not the same values)
        assert not np.allclose(rows["weights"][1], rows["weights"][0])
        assert np.isfinite(rows["test_loss"]).all()


def test_naive_without_checkpoints_returns_final_accuracies():
    from skweights.zoo._images import load_images
    from skweights.zoo._naive import train_naive

    accs = train_naive(sample_hyperparameters(1, seed=1), load_images("digits"), 1)
    assert len(accs) == 1 and 0.0 <= accs[0] <= 1.0
