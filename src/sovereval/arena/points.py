"""Ratings to the user-evaluation points (25 in the reference rules), from the RuleSet's spec.

Bradley–Terry ratings are an interval scale on log-odds (only differences mean anything), so
"x / max(x)" on Elo numbers would depend on the arbitrary offset of 1000. The spec therefore says
how a rating *difference* becomes a fraction of the points:

``{"kind": "relative_best", "points": 25, "measure": ...}`` — relative to the best model:

- ``"win_probability"`` (default): ``2 * P(model beats best)``; the best model gets 1, a model
  100 Elo behind gets ``2 / (1 + 10^(100/400)) = 0.72``.
- ``"strength_ratio"``: ``pi / pi_best = 10^(-gap/400)``, the ratio of BT strengths (a ratio
  scale, so this is the literal "x / max x"); 100 Elo behind gives 0.56.
- ``"elo_gap"``: linear, ``max(0, 1 - gap / zero_gap)`` (``zero_gap`` in Elo, default 400).

``{"kind": "absolute", "points": 25, "lo": 800, "hi": 1200, "reference": "model-id"?}`` — linear
between ``lo`` (0 points) and ``hi`` (full points), clipped; with ``reference``, ``lo`` and
``hi`` are Elo differences to that model's rating (e.g. a declared global target model battled
in the same round), so the offset cancels.

``"decimals"`` (optional) rounds the result. Pass lower bounds instead of point ratings if the
rules want a conservative award; this function does not choose.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sovereval.errors import InputError

_MEASURES = ("win_probability", "strength_ratio", "elo_gap")


def _num(spec: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    if value is None:
        raise InputError(f"points spec: '{key}' is required for kind '{spec.get('kind')}'")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"points spec: '{key}' must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(f"points spec: '{key}' must be finite")
    return out


def _fraction_relative(gap: float, spec: Mapping[str, Any]) -> float:
    measure = str(spec.get("measure", "win_probability"))
    if measure == "win_probability":
        return float(2.0 / (1.0 + 10.0 ** (gap / 400.0)))
    if measure == "strength_ratio":
        return float(10.0 ** (-gap / 400.0))
    if measure == "elo_gap":
        zero = _num(spec, "zero_gap", 400.0)
        if zero <= 0:
            raise InputError("points spec: 'zero_gap' must be positive")
        return max(0.0, 1.0 - gap / zero)
    raise InputError(f"points spec: unknown measure '{measure}'; use one of {_MEASURES}")


def map_to_points(ratings: Mapping[str, float], spec: Mapping[str, Any]) -> dict[str, float]:
    """Points per model (Elo-scale ``ratings``) under the mapping ``spec`` (see module doc)."""
    if not ratings:
        raise InputError("points: no ratings to map")
    if any(not math.isfinite(float(r)) for r in ratings.values()):
        raise InputError("points: ratings must be finite")
    kind = spec.get("kind")
    points = _num(spec, "points", 25.0)
    if points < 0:
        raise InputError("points spec: 'points' must be non-negative")
    out: dict[str, float] = {}
    if kind == "relative_best":
        best = max(float(r) for r in ratings.values())
        for model, r in ratings.items():
            out[model] = points * min(1.0, _fraction_relative(best - float(r), spec))
    elif kind == "absolute":
        lo, hi = _num(spec, "lo"), _num(spec, "hi")
        if hi <= lo:
            raise InputError("points spec: 'hi' must exceed 'lo'")
        offset = 0.0
        ref = spec.get("reference")
        if ref is not None:
            if ref not in ratings:
                raise InputError(f"points spec: reference model '{ref}' has no rating this round")
            offset = float(ratings[ref])
        for model, r in ratings.items():
            x = float(r) - offset
            out[model] = points * min(1.0, max(0.0, (x - lo) / (hi - lo)))
    else:
        raise InputError(f"points spec: unknown kind {kind!r}; use 'relative_best' or 'absolute'")
    decimals = spec.get("decimals")
    if decimals is not None:
        out = {k: round(v, int(decimals)) for k, v in out.items()}
    return out
