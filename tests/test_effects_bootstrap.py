"""The seeded studentized bootstrap of estimation/bootstrap.py (issue #3, point 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from estimation import bootstrap as eb
from estimation import stats as es
from estimation import results as te


def data(seed: int, n: int, skewed: bool = False):
    rng = np.random.default_rng(seed)
    w = rng.random(n) < 0.4
    y = rng.normal(0.5 * w, 1.0)
    r = y - np.where(w, 1.0, -1.0) + rng.normal(0.0, 0.5, n)
    effect = rng.lognormal(0.0, 1.0, n) if skewed else rng.normal(1.0, 0.7, n)
    rr = r + np.where(w, effect, -effect)
    return w, y, r, rr


def test_same_seed_same_interval_other_seed_other_interval():
    args = (*data(0, 200), 0.05, 400)
    first, again = eb.bootstrap_intervals(*args, seed=7), eb.bootstrap_intervals(*args, seed=7)
    other = eb.bootstrap_intervals(*args, seed=8)
    assert first == again
    assert first["intervals"][("RATE", "ATE")] != other["intervals"][("RATE", "ATE")]
    assert set(first["intervals"]) == {(e, k) for e in es.ESTIMATORS for k in es.ESTIMANDS}


def test_block_algebra_matches_resampling_the_examples_directly():
    """The resample statistics come from count-weighted column sums; recompute them from the resampled
    examples themselves, with the same draws, through estimation.stats.compute on a (resamples, n) stack."""
    w, y, r, rr = data(1, 120)
    resamples, alpha = 300, 0.1
    got = eb.bootstrap_intervals(w, y, r, rr, alpha, resamples, seed=3)
    index = np.random.default_rng(3).integers(0, len(w), size=(resamples, len(w)))
    observed, again = es.compute(w, y, r, rr), es.compute(w[index], y[index], r[index], rr[index])
    for key, effect in observed["effects"].items():
        pivots = (again["effects"][key].estimate - effect.estimate) / again["effects"][key].se
        upper, lower = np.quantile(pivots, [1 - alpha / 2, alpha / 2])
        expected = (effect.estimate - upper * effect.se, effect.estimate - lower * effect.se)
        assert got["intervals"][key] == pytest.approx(expected, rel=1e-9), key
        assert got["usable"][key] == resamples


def test_close_to_the_t_interval_for_symmetric_differences():
    w, y, r, rr = data(2, 3000)
    observed = es.compute(w, y, r, rr)
    boot = eb.bootstrap_intervals(w, y, r, rr, 0.05, 2000, seed=0, observed=observed)
    for key in [("RATE", "ATE"), ("RATE", "ATT"), ("single rewrite", "ATU"), ("naive", "ATE")]:
        low, high, _ = es.t_interval(observed["effects"][key], 0.05)
        half = (high - low) / 2
        assert abs(boot["intervals"][key][0] - low) < 0.1 * half, key
        assert abs(boot["intervals"][key][1] - high) < 0.1 * half, key


def test_skewed_differences_give_a_right_leaning_interval_that_covers_better_than_t():
    """Lognormal per-example effects, n = 30: the t interval undercovers the mean (about 83 % here);
    bootstrap-t extends further to the right and covers closer to 95 % (about 88 %; no interval is
    exact at this skew and size). 400 seeded replicates; across seeds the gain was 3.7-4.8 points."""
    truth = np.exp(0.5)  # mean of lognormal(0, 1)
    covered_boot = covered_t = leaning = 0
    replicates = 400
    for seed in range(replicates):
        w, y, r, rr = data(100 + seed, 30, skewed=True)
        w[:2] = [True, False]  # both groups present in every replicate
        observed = es.compute(w, y, r, rr)
        low, high = eb.bootstrap_intervals(w, y, r, rr, 0.05, 999, seed=seed, observed=observed)["intervals"][
            ("RATE", "ATE")]
        estimate = float(observed["effects"][("RATE", "ATE")].estimate)
        t_low, t_high, _ = es.t_interval(observed["effects"][("RATE", "ATE")], 0.05)
        covered_boot += low <= truth <= high
        covered_t += t_low <= truth <= t_high
        leaning += (high - estimate) > (estimate - low)
    assert leaning / replicates > 0.9
    assert covered_boot / replicates >= 0.85
    assert covered_boot - covered_t >= 0.025 * replicates


def test_estimate_adds_bootstrap_columns_and_a_summary():
    w, y, r, rr = data(3, 150)
    arrays = {"w": w, "original": y, "rewrite": r, "rewritten rewrite": rr}
    results = te.estimate(arrays, 0.05, bootstrap_resamples=500, seed=11)
    assert results["bootstrap"]["resamples"] == 500 and results["bootstrap"]["seed"] == 11
    assert results["bootstrap"]["method"].startswith("studentized")
    for row in results["estimates"]:
        assert list(row)[-2:] == ["boot_ci_low", "boot_ci_high"]
        assert row["boot_ci_low"] < row["estimate"] < row["boot_ci_high"]
    assert "boot_ci_low" not in te.estimate(arrays, 0.05)["estimates"][0]
    json.dumps(results, allow_nan=False)


def test_bootstrap_with_one_w_only_gives_intervals_for_what_is_defined():
    w, y, r, rr = data(4, 50)
    w[:] = True
    results = te.estimate({"w": w, "original": y, "rewrite": r, "rewritten rewrite": rr}, 0.05, 400, 0)
    assert [row["estimand"] for row in results["estimates"]] == ["ATT", "ATT"]
    assert all(row["boot_ci_low"] is not None for row in results["estimates"])
    assert set(results["bootstrap"]["usable_resamples"]) == {"single rewrite ATT", "RATE ATT"}
