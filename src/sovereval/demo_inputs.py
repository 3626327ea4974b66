"""Inputs of the demo round: example files shipped in the package, turned into measurements.

Each function stands where a slice of the system produces the real input (benchmark runs,
expert review, blind battles, provenance scans); they read the package's example files and
use the slices' own statistics where those exist.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import numpy as np

from sovereval.competition.scoring import Measurement


def example(name: str) -> Any:
    return json.loads(
        resources.files("sovereval.examples").joinpath("demo").joinpath(name).read_text("utf-8")
    )


def mean_interval(values: list[float], rng: np.random.Generator, n_boot: int = 2000) -> Measurement:
    """Mean with a seeded percentile-bootstrap 95% interval."""
    arr = np.asarray(values, dtype=float)
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    lo, hi = np.percentile(arr[idx].mean(axis=1), [2.5, 97.5])
    mean = float(arr.mean())
    return Measurement(mean, float(min(lo, mean)), float(max(hi, mean)))


def expert_inputs(rng: np.random.Generator) -> dict[str, Measurement]:
    data = example("expert_review.json")
    return {
        t: mean_interval([float(x) for x in v], rng)
        for t, v in data.items()
        if not t.startswith("_")
    }


def provenance_inputs(rng: np.random.Generator) -> dict[str, list[dict[str, Any]]]:
    """Per team, provenance findings recorded with its submission (see ``sovereval provenance``)."""
    findings = example("provenance.json")
    return {t: v for t, v in findings.items() if not t.startswith("_")}
