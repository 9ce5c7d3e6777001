"""Judge tests of the ``weight-init`` homework: the deep-network experiments (0.2 of 1.0 point).

The student's initializers only FILL the weights (in the sandboxed worker, from a generator the
judge seeds); the networks run here, in the judge (``deep_experiments.py``):

* 30 bias-free 256 x 256 ReLU layers on the judge's N(0, 1) input: with Xavier the activation
  std shrinks by 1/sqrt(2) per layer, with He it stays of order 1. The bounds come from the
  spread of the statistic over weight seeds of a correct initializer (measured with
  ``deep_experiments.py --spread 40``: the per-layer ratio 0.704 +- 0.009, log of the last std
  -0.30 +- 0.37), at >= 5 standard deviations; the mistakes they catch are far outside
  (Xavier's variance used as a std: ratio ~0; He without the ReLU gain: last std ~3e-5; a gain
  of 2 instead of sqrt 2: last std ~3e4);
* a 30-layer ReLU MLP (width 128) whose initial weights come from the student's
  ``kaiming_normal_(nonlinearity='relu')``, trained by the judge, reaches >= 0.8 test accuracy
  on ``load_digits`` (the reference: 0.903 +- 0.007 over 5 seeds; a second seed is tried before
  failing, so that one unlucky draw of a correct initializer does not cost the points).

Messages are in Russian: students read them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from deep_experiments import (
    DEPTH,
    STATS_WIDTH,
    activation_stds,
    digits_shapes,
    load_digits_split,
    per_layer_ratio,
    stats_shapes,
    train_digits,
)
from init_judge import RuleGuard, fill_layers

XAVIER_RATIO = (0.65, 0.76)
HE_LAST_STD = (0.1, 10.0)
MIN_ACCURACY = 0.8
#: Seed of the generator the student's initializer draws the statistics network's weights from.
WEIGHT_SEED = 0


def relu_stds(worker: Any, name: str, **kwargs: Any) -> list[float]:
    """Per-layer activation stds of the judge's 30-layer ReLU network with the student's weights."""
    weights = fill_layers(worker, name, stats_shapes(), WEIGHT_SEED, **kwargs)
    stds = activation_stds(weights, torch.relu)
    assert all(math.isfinite(s) for s in stds), (
        f"{name}: std активаций по слоям не конечны (сеть взорвалась): " + ", ".join(f"{s:.3g}" for s in stds[:5])
    )
    return stds


@pytest.mark.points(0.05)
def test_relu_xavier_shrinks_by_sqrt2(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("xavier_uniform_", "xavier_normal_")
    for name in ("xavier_uniform_", "xavier_normal_"):
        stds = relu_stds(worker, name)
        ratio = per_layer_ratio(stds)
        low, high = XAVIER_RATIO
        assert low <= ratio <= high, (
            f"ReLU + {name}, {DEPTH} слоёв {STATS_WIDTH}x{STATS_WIDTH}: std активаций за слой умножается на "
            f"{ratio:.3f}, а теория даёт 1/sqrt(2) = 0.707 (допустимо [{low}, {high}]); std по слоям: "
            + ", ".join(f"{s:.3g}" for s in stds[:6]) + ", ..."
        )


@pytest.mark.points(0.05)
def test_relu_he_keeps_scale(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("kaiming_normal_", "kaiming_uniform_")
    for name in ("kaiming_normal_", "kaiming_uniform_"):
        stds = relu_stds(worker, name, nonlinearity="relu")
        low, high = HE_LAST_STD
        assert low <= stds[-1] <= high, (
            f"ReLU + {name}(nonlinearity='relu'), {DEPTH} слоёв {STATS_WIDTH}x{STATS_WIDTH}: std после слоя "
            f"{DEPTH} равно {stds[-1]:.3g}, а должно остаться порядка 1 (допустимо [{low}, {high}])"
        )


@pytest.mark.points(0.1)
@pytest.mark.timeout(150)
def test_he_trains_deep_mlp_on_digits(worker: Any, rule_guard: RuleGuard) -> None:
    rule_guard("kaiming_normal_")
    shapes = digits_shapes()
    weights = {seed: fill_layers(worker, "kaiming_normal_", shapes, seed, nonlinearity="relu") for seed in (0, 1)}
    data = load_digits_split()
    results = []
    for seed in (0, 1):
        result = train_digits(weights[seed], data, seed=seed)
        results.append(result)
        if result.test_accuracy >= MIN_ACCURACY:
            return
    summary = "; ".join(
        f"seed {seed}: точность {r.test_accuracy:.3f}, loss {r.initial_loss:.3f} -> {r.train_loss:.3f}"
        for seed, r in enumerate(results)
    )
    raise AssertionError(
        f"{DEPTH}-слойная ReLU-сеть (ширина 128) с kaiming_normal_(nonlinearity='relu') не обучилась "
        f"на digits до точности {MIN_ACCURACY} на тесте ({summary}; ln 10 = {math.log(10):.3f})"
    )
