"""The inpainting hole generator of training and evaluation: coverage, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from training.masks import MAX_COVERAGE, MIN_COVERAGE, random_mask

pytestmark = pytest.mark.training


def test_mask_coverage_and_determinism():
    for seed in range(50):
        m = random_mask(96, 128, np.random.default_rng(seed))
        assert m.dtype == bool and m.shape == (96, 128)
        assert MIN_COVERAGE <= m.mean() <= MAX_COVERAGE
        assert np.array_equal(m, random_mask(96, 128, np.random.default_rng(seed)))
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(2)
    assert not np.array_equal(random_mask(64, 64, rng1), random_mask(64, 64, rng2))


def test_mask_custom_coverage_and_bad_input():
    m = random_mask(200, 300, np.random.default_rng(3), coverage=(0.05, 0.06))
    assert 0.05 <= m.mean() <= 0.06
    tiny = random_mask(4, 4, np.random.default_rng(0))
    assert MIN_COVERAGE <= tiny.mean() <= MAX_COVERAGE
    with pytest.raises(ValueError):
        random_mask(10, 10, np.random.default_rng(0), coverage=(0.6, 0.2))
