"""Benchmark: the seminar's ``Value`` engine against micrograd 0.1.0 on one training step.

The workload (issue 4): one SGD step of a 2-16-16-1 ReLU MLP on 100 ``make_moons`` points with
the hinge loss + L2 (alpha = 1e-4): forward over every point, loss, ``backward()``, parameter
update. The *same* workload code runs on both engines, starting from the same weights; only
the ``Value`` class differs. Before timing, one untimed step per engine checks that both compute
the same loss and gradients (so the comparison is of equal work).

Timing: the engines alternate (ours, micrograd, micrograd, ours, ...) so that a slow spell of a
shared machine hits both; ``gc.collect()`` runs before every timed step, outside the timer, so
no step pays for the previous step's garbage. This is conservative towards micrograd: its graph
(full of reference cycles) is left for the collector outside the timer, while ours is freed by
reference counting inside the timed step. Python's cyclic garbage collector is a large part of
the cost of building a graph of ~70,000 nodes, and each of its full passes also walks every
object already alive in the process (here: torch, matplotlib and scikit-learn, imported by the
notebook's definitions), which belongs to neither engine. The timed loop therefore runs with
those objects frozen (``gc.freeze()``, undone afterwards), so the collector's cost is the
engines' own.

Usage::

    python seminars/bench_value.py [--repeats 7] [--source seminars/01_seminar_mlp_autograd.py]

Prints both medians and the ratio ours / micrograd. Exit codes: 0 ours is not slower, 1 ours is
slower (or the engines disagree), 2 bad input (missing source, no ``Value``, micrograd missing).
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from load_notebook import load_definitions  # noqa: E402
from nbio import EXIT_CHECK_FAILED, EXIT_OK, NotebookError, run_cli  # noqa: E402
from rebuild_notebook import SEMINAR_SOURCE, rebuild  # noqa: E402

SIZES = (2, 16, 16, 1)
N_POINTS = 100
ALPHA = 1e-4
LEARNING_RATE = 0.05
MICROGRAD_VERSION = "0.1.0"
#: Both engines must agree on the loss and every gradient to this relative tolerance.
AGREEMENT_TOL = 1e-9


@dataclass(frozen=True)
class Workload:
    """Inputs of one training step: points, labels in {-1, +1}, initial weights.

    ``weights[layer][neuron]`` is ``[w_1, ..., w_n, b]`` as plain floats.
    """

    X: list[list[float]]
    y: list[float]
    weights: list[list[list[float]]]

    @property
    def n_parameters(self) -> int:
        """Number of scalar parameters of the MLP."""
        return sum(len(neuron) for layer in self.weights for neuron in layer)


@dataclass(frozen=True)
class BenchmarkResult:
    """Median seconds per training step of each engine and their ratio (ours / micrograd)."""

    ours_seconds: float
    micrograd_seconds: float
    repeats: int
    loss: float

    @property
    def ratio(self) -> float:
        """ours / micrograd: below 1 means ours is faster."""
        return self.ours_seconds / self.micrograd_seconds


class EnginesDisagree(Exception):
    """The two engines computed different losses or gradients for the same step."""


def make_workload(n_points: int = N_POINTS, seed: int = 0) -> Workload:
    """The benchmark's data (make_moons, noise 0.1) and nn.Linear-style initial weights."""
    from sklearn.datasets import make_moons

    X, labels = make_moons(n_samples=n_points, noise=0.1, random_state=seed)
    rnd = random.Random(seed)
    weights = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        bound = 1 / math.sqrt(n_in)
        weights.append([[rnd.uniform(-bound, bound) for _ in range(n_in + 1)] for _ in range(n_out)])
    return Workload(X=X.tolist(), y=[2.0 * label - 1.0 for label in labels.tolist()], weights=weights)


def training_step(value_cls: type, workload: Workload) -> tuple[float, list[float]]:
    """One SGD step with the given Value class; returns the loss and every parameter's gradient.

    Uses only what both engines support: ``+ - *`` with numbers on either side, ``relu``,
    ``sum`` and ``backward``.
    """
    params = [[[value_cls(w) for w in neuron] for neuron in layer] for layer in workload.weights]
    flat = [p for layer in params for neuron in layer for p in neuron]
    last = len(params) - 1
    hinge_terms = []
    for x, label in zip(workload.X, workload.y, strict=True):
        h: list[Any] = x
        for index, layer in enumerate(params):
            pre = [sum((w * xi for w, xi in zip(neuron[:-1], h, strict=True)), neuron[-1]) for neuron in layer]
            h = pre if index == last else [a.relu() for a in pre]
        hinge_terms.append((1 - label * h[0]).relu())
    loss = sum(hinge_terms) * (1.0 / len(hinge_terms)) + ALPHA * sum(p * p for p in flat)
    loss.backward()
    for p in flat:
        p.data -= LEARNING_RATE * p.grad
    return float(loss.data), [float(p.grad) for p in flat]


def check_agreement(ours: tuple[float, list[float]], theirs: tuple[float, list[float]]) -> None:
    """Raise :class:`EnginesDisagree` unless loss and gradients agree to ``AGREEMENT_TOL``."""
    (loss_a, grads_a), (loss_b, grads_b) = ours, theirs
    if abs(loss_a - loss_b) > AGREEMENT_TOL * abs(loss_b):
        raise EnginesDisagree(f"losses differ: ours {loss_a!r}, micrograd {loss_b!r}")
    scale = max(abs(g) for g in grads_b) or 1.0
    worst = max(abs(a - b) for a, b in zip(grads_a, grads_b, strict=True))
    if worst > AGREEMENT_TOL * scale:
        raise EnginesDisagree(f"gradients differ by up to {worst:.3g} (largest gradient {scale:.3g})")


def micrograd_value() -> type:
    """micrograd's Value class; a :class:`NotebookError`-style failure if it is not installed."""
    from importlib import metadata

    try:
        version = metadata.version("micrograd")
        from micrograd.engine import Value
    except (metadata.PackageNotFoundError, ImportError):
        raise NotebookError("micrograd", f"not installed; pip install micrograd=={MICROGRAD_VERSION}") from None
    if version != MICROGRAD_VERSION:
        raise NotebookError("micrograd", f"version {version} installed, the benchmark is defined for {MICROGRAD_VERSION}")
    return Value


def load_value_class(source: str | Path = SEMINAR_SOURCE) -> type:
    """The ``Value`` class of the notebook built from ``source`` (definitions only, nothing run)."""
    module = load_definitions(rebuild(source), module_name="seminar_bench")
    value_cls = getattr(module, "Value", None)
    if not isinstance(value_cls, type):
        raise NotebookError(source, "the notebook defines no Value class")
    return value_cls


def _timed_step(value_cls: type, workload: Workload) -> float:
    """Seconds for one training step, after collecting any earlier garbage."""
    gc.collect()
    start = time.perf_counter()
    training_step(value_cls, workload)
    return time.perf_counter() - start


def run_benchmark(value_cls: type, repeats: int = 7, workload: Workload | None = None) -> BenchmarkResult:
    """Time ``repeats`` training steps of each engine (alternating) and return the medians."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    workload = workload or make_workload()
    reference = micrograd_value()
    ours = training_step(value_cls, workload)
    check_agreement(ours, training_step(reference, workload))
    times: dict[str, list[float]] = {"ours": [], "micrograd": []}
    gc.collect()
    gc.freeze()  # objects alive now (libraries, the notebook) are skipped by the collector
    try:
        for repeat in range(repeats):
            order = [("ours", value_cls), ("micrograd", reference)]
            for name, cls in order if repeat % 2 == 0 else order[::-1]:
                times[name].append(_timed_step(cls, workload))
    finally:
        gc.unfreeze()
    return BenchmarkResult(
        ours_seconds=statistics.median(times["ours"]),
        micrograd_seconds=statistics.median(times["micrograd"]),
        repeats=repeats,
        loss=ours[0],
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per engine (default 7)")
    parser.add_argument("--source", type=Path, default=SEMINAR_SOURCE, help="notebook source (.py) or .ipynb")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")

    value_cls = load_value_class(args.source)
    workload = make_workload()
    print(f"workload: one SGD step of a {'-'.join(map(str, SIZES))} ReLU MLP ({workload.n_parameters} parameters) "
          f"on {len(workload.X)} make_moons points, hinge loss + L2 (alpha={ALPHA:g})")
    try:
        result = run_benchmark(value_cls, args.repeats, workload)
    except EnginesDisagree as exc:
        print(f"{args.source}: engines disagree: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    print(f"ours ({args.source.name}): median {result.ours_seconds:.3f} s per step over {result.repeats} runs")
    print(f"micrograd {MICROGRAD_VERSION}: median {result.micrograd_seconds:.3f} s per step over {result.repeats} runs")
    verdict = "faster" if result.ratio < 1 else "SLOWER"
    print(f"ratio ours / micrograd: {result.ratio:.2f} (ours is {1 / result.ratio:.2f}x as fast: {verdict})")
    return EXIT_OK if result.ratio <= 1 else EXIT_CHECK_FAILED


if __name__ == "__main__":
    sys.exit(run_cli(main))
