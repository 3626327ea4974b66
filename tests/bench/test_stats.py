"""Bootstrap intervals and per-subject summaries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sovereval.bench import stats
from sovereval.bench.stats import bootstrap_ci, bootstrap_means, summarise
from sovereval.errors import InputError


def test_constant_scores_give_a_degenerate_interval() -> None:
    ci = bootstrap_ci([1.0] * 20, np.random.default_rng(0))
    assert (ci.estimate, ci.low, ci.high, ci.n) == (1.0, 1.0, 1.0, 20)


def test_binary_interval_matches_normal_approximation() -> None:
    # 50 of 100 correct: SE = sqrt(0.5*0.5/100) = 0.05, so about 0.5 -/+ 1.96*0.05 = [0.402, 0.598].
    ci = bootstrap_ci([1.0] * 50 + [0.0] * 50, np.random.default_rng(1), n_resamples=20_000)
    assert ci.estimate == 0.5
    assert ci.low == pytest.approx(0.402, abs=0.015) and ci.high == pytest.approx(0.598, abs=0.015)


def test_same_seed_same_interval() -> None:
    x = np.random.default_rng(3).random(200)
    a = bootstrap_ci(x, np.random.default_rng(9))
    b = bootstrap_ci(x, np.random.default_rng(9))
    assert a == b


def test_multinomial_and_index_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    # Counts per distinct value of an n-resample are Multinomial(n, freq): same law as index
    # resampling. Compare the two paths' quantiles on the same data.
    x = np.array([0.0] * 30 + [1.0] * 60 + [0.5] * 10)
    fast = np.quantile(bootstrap_means(x, np.random.default_rng(5), 40_000), [0.025, 0.5, 0.975])
    monkeypatch.setattr(stats, "_MAX_DISTINCT_MULTINOMIAL", 0)
    slow = np.quantile(bootstrap_means(x, np.random.default_rng(6), 40_000), [0.025, 0.5, 0.975])
    assert fast == pytest.approx(slow, abs=0.01)


def test_chunked_index_path_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "_CHUNK_CELLS", 1000)  # forces many chunks of 10 resamples
    x = np.random.default_rng(0).random(100)
    reps = bootstrap_means(x, np.random.default_rng(1), 1234)
    assert reps.shape == (1234,) and x.min() <= reps.min() and reps.max() <= x.max()


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=60), st.integers(0, 2**32 - 1)
)
def test_interval_brackets_the_mean_and_stays_in_range(values: list[float], seed: int) -> None:
    ci = bootstrap_ci(values, np.random.default_rng(seed), n_resamples=500)
    tol = 1e-9
    assert min(values) - tol <= ci.low <= ci.estimate + tol
    assert ci.estimate - tol <= ci.high <= max(values) + tol


def test_summarise_by_subject_and_unscored() -> None:
    scores = [1.0, 0.0, 1.0, None, 1.0]
    subjects = ["law", "law", "history", "history", "history"]
    s = summarise(scores, subjects, np.random.default_rng(0), n_resamples=1000)
    assert s.n_unscored == 1
    assert s.overall.estimate == 0.75 and s.overall.n == 4
    assert set(s.by_subject) == {"law", "history"}
    assert s.by_subject["law"].estimate == 0.5 and s.by_subject["history"].estimate == 1.0


def test_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="non-empty"):
        bootstrap_ci([], rng)
    with pytest.raises(InputError, match="NaN"):
        bootstrap_ci([1.0, float("nan")], rng)
    with pytest.raises(InputError, match="confidence level"):
        bootstrap_ci([1.0], rng, level=1.5)
    with pytest.raises(InputError, match="2 scores but 1 subjects"):
        summarise([1.0, 0.0], ["a"], rng)
