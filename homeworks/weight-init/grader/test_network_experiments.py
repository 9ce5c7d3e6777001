"""Grader of the ``weight-init`` homework: the deep-network experiments (0.2 of 1.0 point).

The experiments of the homework's notebook are recomputed here with the student's
initializers (code in ``deep_experiments.py``, small and seeded):

* 30 bias-free 512 x 512 ReLU layers on N(0, 1) input: with Xavier the activation std shrinks
  by 1/sqrt(2) per layer (measured ratio 0.70 +- 0.03); with He it stays of order 1 (std after
  layer 30 within [0.3, 2]);
* a 30-layer ReLU MLP (width 128) initialised with He reaches >= 0.8 test accuracy on
  ``load_digits`` (a second seed is tried before failing, so that one unlucky draw of a
  correct initializer does not cost the points).

Messages are in Russian: students read them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from deep_experiments import (
    DEPTH,
    activation_stds,
    he_init,
    load_digits_split,
    per_layer_ratio,
    train_digits,
)

XAVIER_RATIO = (0.67, 0.73)
HE_LAST_STD = (0.3, 2.0)
MIN_ACCURACY = 0.8


def _stds(init: Any) -> list[float]:
    """Per-layer activation stds of the 30-layer ReLU network, checked to be finite."""
    stds = activation_stds(init, torch.relu, batch=256)
    assert all(math.isfinite(s) for s in stds), f"std активаций по слоям не конечны: {stds[:5]}..."
    return stds


@pytest.mark.points(0.05)
def test_relu_xavier_shrinks_by_sqrt2(submission: Any) -> None:
    variants = {
        "xavier_uniform_": lambda w, g: submission.xavier_uniform_(w, generator=g),
        "xavier_normal_": lambda w, g: submission.xavier_normal_(w, generator=g),
    }
    for name, init in variants.items():
        stds = _stds(init)
        ratio = per_layer_ratio(stds)
        low, high = XAVIER_RATIO
        assert low <= ratio <= high, (
            f"ReLU + {name}, {DEPTH} слоёв 512x512: std активаций за слой умножается на {ratio:.3f}, "
            f"а теория даёт 1/sqrt(2) = 0.707 (допустимо [{low}, {high}]); std по слоям: "
            + ", ".join(f"{s:.3g}" for s in stds[:6]) + ", ..."
        )


@pytest.mark.points(0.05)
def test_relu_he_keeps_scale(submission: Any) -> None:
    variants = {
        "kaiming_normal_": lambda w, g: submission.kaiming_normal_(w, nonlinearity="relu", generator=g),
        "kaiming_uniform_": lambda w, g: submission.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    }
    for name, init in variants.items():
        stds = _stds(init)
        low, high = HE_LAST_STD
        assert low <= stds[-1] <= high, (
            f"ReLU + {name}(nonlinearity='relu'), {DEPTH} слоёв 512x512: std после слоя {DEPTH} "
            f"равно {stds[-1]:.3g}, а должно остаться порядка 1 (допустимо [{low}, {high}])"
        )


@pytest.mark.points(0.1)
@pytest.mark.timeout(150)
def test_he_trains_deep_mlp_on_digits(submission: Any) -> None:
    data = load_digits_split()
    results = []
    for seed in (0, 1):
        result = train_digits(he_init(submission), data, seed=seed)
        results.append(result)
        if result.test_accuracy >= MIN_ACCURACY:
            return
    summary = "; ".join(
        f"seed {seed}: точность {r.test_accuracy:.3f}, loss {r.initial_loss:.3f} -> {r.train_loss:.3f}"
        for seed, r in enumerate(results)
    )
    pytest.fail(
        f"{DEPTH}-слойная ReLU-сеть (ширина 128) с kaiming_normal_(nonlinearity='relu') не обучилась "
        f"на digits до точности {MIN_ACCURACY} на тесте ({summary}; ln 10 = {math.log(10):.3f})",
        pytrace=False,
    )
