"""The estimators against hand computation, scipy.stats, and the original code's definitions
(issue #3, points 1-4 and 8a), and the edge cases that must give a reason instead of a NaN."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
from scipy import stats

from estimation import stats as es
from estimation import results as te
from reporting import tables
import utils
from reference_estimators import loop_estimates


def arrays(w, original, rewrite, back, oracle=None):
    out = {"w": np.array(w, dtype=bool), "original": np.array(original, float), "rewrite": np.array(rewrite, float),
           "rewritten rewrite": np.array(back, float)}
    if oracle is not None:
        out[te.ORACLE] = np.array(oracle, float)
    return out


# Two treated (W=1) and two control (W=0) examples; every number below is worked out in the comments.
HAND = arrays(w=[1, 1, 0, 0], original=[3, 5, 1, 2], rewrite=[1, 2, 2, 4], back=[2, 4, 1, 1], oracle=[0, 4, 3, 3])


def rows_by_key(results):
    return {(r["estimator"], r["estimand"]): r for r in results["estimates"]}


def random_arrays(seed, n=300, p=0.3, oracle=False):
    rng = np.random.default_rng(seed)
    w = rng.random(n) < p
    y = rng.normal(1.0 * w, 1.0)
    r = y - np.where(w, 1.0, -1.0) + rng.normal(0, 0.5, n)
    rr = r + np.where(w, 1.2, -1.2) + rng.normal(0, 0.5, n)
    return arrays(w, y, r, rr, oracle=y - np.where(w, 1.0, -1.0) if oracle else None)


def test_naive_is_difference_of_group_means_with_welch_se():
    r = te.estimate(HAND, alpha=0.05)
    assert r["naive_effect"] == pytest.approx(4.0 - 1.5)  # mean(3,5) - mean(1,2)
    assert r["naive_effect_stderr"] == pytest.approx(math.sqrt(2 / 2 + 0.5 / 2))  # var(3,5)=2, var(1,2)=0.5
    rows = rows_by_key(r)
    # one group-mean difference, reported for every estimand
    assert {rows[("naive", e)]["estimate"] for e in ("ATE", "ATT", "ATU")} == {2.5}


def test_single_rewrite_is_original_minus_rewrite_oriented_by_w():
    r = te.estimate(HAND, alpha=0.05)
    # W=1: R(y) - R(rewrite) = [2, 3]; W=0: R(rewrite) - R(y) = [1, 2]
    assert r["ATT_single_rewrite"] == pytest.approx(2.5)
    assert r["ATU_single_rewrite"] == pytest.approx(1.5)
    assert r["ATE_single_rewrite"] == pytest.approx(2.0)
    assert r["ATT_single_rewrite_stderr"] == pytest.approx(math.sqrt(0.5) / math.sqrt(2))
    assert r["ATE_single_rewrite_stderr"] == pytest.approx(math.sqrt(2 / 3) / 2)  # sd of [2,3,1,2] / sqrt(4)


def test_rate_compares_rewrite_with_rewritten_rewrite_with_paired_ses():
    r = te.estimate(HAND, alpha=0.05)
    # W=1: R(rr) - R(rewrite) = [1, 2]; W=0: R(rewrite) - R(rr) = [1, 3]
    assert r["ATT_rewritten_rewrite"] == pytest.approx(1.5)
    assert r["ATU_rewritten_rewrite"] == pytest.approx(2.0)
    assert r["ATE_rewritten_rewrite"] == pytest.approx(1.75)
    assert r["ATT_rewritten_rewrite_stderr"] == pytest.approx(math.sqrt(0.5) / math.sqrt(2))  # sd(1,2)/sqrt(2)
    assert r["ATU_rewritten_rewrite_stderr"] == pytest.approx(math.sqrt(2) / math.sqrt(2))  # sd(1,3)=sqrt(2)
    # [1,2,1,3]: mean 1.75, squared deviations sum to 2.75
    assert r["ATE_rewritten_rewrite_stderr"] == pytest.approx(math.sqrt(2.75 / 3 / 4))


def test_original_unpaired_rate_ses_are_reported_for_comparison():
    r = te.estimate(HAND, alpha=0.05)
    # ATT: var R(rr | W=1) = var(2,4) = 2, var R(rewrite | W=1) = var(1,2) = 0.5
    assert r["ATT_rewritten_rewrite_stderr_unpaired"] == pytest.approx(math.sqrt(2 / 2 + 0.5 / 2))
    # ATU: do(1) = R(rewrite | W=0) = (2,4), var 2; do(0) = R(rr | W=0) = (1,1), var 0
    assert r["ATU_rewritten_rewrite_stderr_unpaired"] == pytest.approx(1.0)
    # ATE: do(1) = [2,4,2,4], var 4/3; do(0) = [1,2,1,1], var 1/4
    assert r["ATE_rewritten_rewrite_stderr_unpaired"] == pytest.approx(math.sqrt((4 / 3) / 4 + 0.25 / 4))


def test_unpaired_ses_overstate_the_uncertainty_of_positively_correlated_pairs():
    r = te.estimate(random_arrays(0), alpha=0.05)
    for estimand in ("ATE", "ATT", "ATU"):
        assert r[f"{estimand}_rewritten_rewrite_stderr"] < 0.6 * r[f"{estimand}_rewritten_rewrite_stderr_unpaired"]


def test_reward_std_counts_truth_and_normalised_effects():
    r = te.estimate(HAND, alpha=0.05)
    std = math.sqrt((1 * 2 + 1 * 0.5) / 2)
    assert r["reward_std"] == pytest.approx(std)
    assert (r["Y1_count"], r["Y0_count"]) == (2, 2)
    # W=1: R(y) - R(oracle) = [3, 1]; W=0: R(oracle) - R(y) = [2, 1]
    assert r["ground_truth"] == pytest.approx({"ATT": 2.0, "ATU": 1.5, "ATE": 1.75})
    row = rows_by_key(r)[("RATE", "ATU")]
    assert row["norm_estimate"] == pytest.approx(2.0 / std)
    # The effect size's delta-method SE (estimation/robust.py). RATE's ATU differences are [1, 3]: tau = 2,
    # SE 1. Residuals of R(original) from their group means: [-1, 1, -0.5, 0.5], squares [1, 1, .25, .25],
    # SS/n = 0.625, so psi_sd = [.375, .375, -.375, -.375] / (2 std n); psi_tau = [0, 0, -.5, .5].
    # Cov = 4/3 * sum psi_tau psi_sd = 0; Var(sd) = 4/3 * 4 * .375^2 / (8 std)^2 = 0.009375.
    # Var(theta) = (1 + theta^2 * 0.009375) / std^2 with theta^2 = 4 / 1.25 = 3.2: (1 + 0.03) / 1.25.
    assert row["norm_se"] == pytest.approx(math.sqrt(1.03 / 1.25))
    assert row["norm_se"] > 1.0 / std  # dividing the raw SE by the sd would treat the sd as known
    half = stats.t.ppf(0.975, 1) * row["norm_se"]
    assert (row["norm_ci_low"], row["norm_ci_high"]) == pytest.approx((2.0 / std - half, 2.0 / std + half))
    assert (row["truth"], row["norm_truth"]) == pytest.approx((1.5, 1.5 / std))


def test_ate_is_weighted_average_of_att_and_atu_when_groups_are_unequal():
    r = te.estimate(random_arrays(1, n=101), alpha=0.05)
    n1, n0 = r["Y1_count"], r["Y0_count"]
    assert n1 != n0
    for name in ("single_rewrite", "rewritten_rewrite"):
        pooled = (n1 * r[f"ATT_{name}"] + n0 * r[f"ATU_{name}"]) / (n1 + n0)
        assert r[f"ATE_{name}"] == pytest.approx(pooled, abs=1e-12)


def test_intervals_and_p_values_agree_with_scipy_t_tests():
    data = random_arrays(2, n=60)
    w, y, rw, rr = data["w"], data["original"], data["rewrite"], data["rewritten rewrite"]
    rows = rows_by_key(te.estimate(data, alpha=0.1))
    reference = {
        ("RATE", "ATT"): stats.ttest_rel(rr[w], rw[w]),
        ("RATE", "ATU"): stats.ttest_rel(rw[~w], rr[~w]),
        ("RATE", "ATE"): stats.ttest_1samp(np.where(w, rr - rw, rw - rr), 0.0),
        ("single rewrite", "ATT"): stats.ttest_rel(y[w], rw[w]),
        ("single rewrite", "ATU"): stats.ttest_rel(rw[~w], y[~w]),
        ("naive", "ATE"): stats.ttest_ind(y[w], y[~w], equal_var=False),
    }
    for key, test in reference.items():
        low, high = test.confidence_interval(0.9)
        assert (rows[key]["ci_low"], rows[key]["ci_high"]) == pytest.approx((low, high), rel=1e-10), key
        assert rows[key]["p"] == pytest.approx(test.pvalue, rel=1e-8), key


def test_rows_follow_the_agreed_schema_and_order():
    r = te.estimate(HAND, alpha=0.05)
    assert [(x["estimator"], x["estimand"]) for x in r["estimates"]] == [
        (e, k) for e in ("naive", "single rewrite", "RATE") for k in ("ATE", "ATT", "ATU")]
    for row in r["estimates"]:
        assert tuple(row) == te.ROW_KEYS
        assert (row["n1"], row["n0"]) == (2, 2)
    json.dumps(r, allow_nan=False)


def test_rewrite_effect_and_asymmetry_by_hand():
    d = te.estimate(HAND, alpha=0.05)["diagnostics"]
    # R(rr) - R(y): W=1 [-1, -1] (mean -1, var 0); W=0 [0, -1] (mean -0.5, var 0.5)
    assert d["rewrite_effect"]["W=1"]["estimate"] == pytest.approx(-1.0)
    assert d["rewrite_effect"]["W=0"]["estimate"] == pytest.approx(-0.5)
    assert d["rewrite_effect"]["W=0"]["se"] == pytest.approx(0.5)
    asymmetry = d["off_target_asymmetry"]
    # Welch: se = sqrt(0/2 + 0.5/2) = 0.5, df = 0.25^2 / (0.25^2 / 1) = 1
    assert (asymmetry["estimate"], asymmetry["se"], asymmetry["df"]) == pytest.approx((-0.5, 0.5, 1.0))
    assert asymmetry["ci_high"] == pytest.approx(-0.5 + stats.t.ppf(0.975, 1) * 0.5)
    assert asymmetry["significant"] is False


def test_rewrite_effects_are_what_the_second_rewrite_changed():
    r = te.estimate(random_arrays(3), alpha=0.05)
    effect = r["diagnostics"]["rewrite_effect"]
    assert effect["W=1"]["estimate"] == pytest.approx(r["ATT_rewritten_rewrite"] - r["ATT_single_rewrite"])
    assert effect["W=0"]["estimate"] == pytest.approx(r["ATU_single_rewrite"] - r["ATU_rewritten_rewrite"])


def test_vectorised_code_matches_a_per_example_loop_and_a_replicate_axis():
    data = random_arrays(4, n=500, oracle=True)
    r = te.estimate(data, alpha=0.05)
    looped = loop_estimates(data["w"].tolist(), data["original"].tolist(), data["rewrite"].tolist(),
                            data["rewritten rewrite"].tolist())
    for key, (value, se) in looped.items():
        assert r[key] == pytest.approx(value, rel=1e-10) and r[f"{key}_stderr"] == pytest.approx(se, rel=1e-10)
    # three replicates stacked on a leading axis give the same numbers as three separate calls
    stack = [random_arrays(seed, n=80) for seed in (5, 6, 7)]
    batch = es.compute(*(np.stack([s[k] for s in stack]) for k in ("w", "original", "rewrite", "rewritten rewrite")))
    for index, single in enumerate(stack):
        alone = es.compute(single["w"], single["original"], single["rewrite"], single["rewritten rewrite"])
        for key, effect in alone["effects"].items():
            got = batch["effects"][key]
            assert [float(got.estimate[index]), float(got.se[index]), float(got.df[index])] == pytest.approx(
                [float(effect.estimate), float(effect.se), float(effect.df)], rel=1e-12)


def test_one_w_only_reports_att_and_says_why_the_rest_is_undefined(caplog):
    with caplog.at_level(logging.WARNING, logger="treatment_effects"):
        r = te.estimate(arrays(w=[1, 1, 1], original=[3, 5, 4], rewrite=[1, 2, 2], back=[2, 4, 4], oracle=[0, 4, 1]),
                        0.05)
    assert [(x["estimator"], x["estimand"]) for x in r["estimates"]] == [("single rewrite", "ATT"), ("RATE", "ATT")]
    assert r["ATT_rewritten_rewrite"] == pytest.approx(5 / 3)
    assert r["ATU_rewritten_rewrite"] is None and r["ATE_rewritten_rewrite"] is None and r["naive_effect"] is None
    assert r["ground_truth"] == pytest.approx({"ATT": 7 / 3})
    assert r["reward_std"] == pytest.approx(1.0)  # sd of (3, 5, 4), the only group
    undefined = r["diagnostics"]["undefined"]
    assert undefined["ATU"].startswith("ATU (ATC) undefined: no example has W=0")
    assert "naive" in undefined and "ATE" in undefined
    assert any("no example has W=0" in m for m in caplog.messages)
    json.dumps(r, allow_nan=False)


def test_a_single_example_in_a_group_is_named():
    r = te.estimate(arrays(w=[1, 0, 0, 0], original=[1, 2, 3, 4], rewrite=[1, 2, 3, 5], back=[1, 2, 3, 4]), 0.05)
    assert "only 1 example has W=1" in r["diagnostics"]["undefined"]["ATT"]
    assert [x["estimand"] for x in r["estimates"]] == ["ATU", "ATU"]


def test_fewer_than_two_in_both_groups_is_a_clear_error():
    with pytest.raises(utils.RateError, match="n1=1, n0=1"):
        te.estimate(arrays(w=[1, 0], original=[1, 2], rewrite=[1, 2], back=[1, 2]), 0.05)


def test_constant_differences_give_zero_width_intervals_not_nan():
    r = te.estimate(arrays(w=[1, 1, 0, 0], original=[3, 3, 1, 1], rewrite=[1, 1, 2, 2], back=[2, 2, 1, 1]), 0.05)
    row = rows_by_key(r)[("RATE", "ATT")]
    assert (row["se"], row["ci_low"], row["ci_high"], row["p"]) == (0.0, 1.0, 1.0, 0.0)
    assert "RATE ATT" in r["diagnostics"]["zero_se"]
    # R(original) is constant within each group: no reward_std, so no normalised effects
    assert r["reward_std"] is None and row["norm_estimate"] is None
    json.dumps(r, allow_nan=False)


def test_format_table_labels_atu_as_atc_and_shows_every_column():
    r = te.estimate(HAND, alpha=0.1)
    table = tables.format_table(r["estimates"], 0.1)
    lines = table.splitlines()
    assert lines[0] == ("| estimator | estimand | estimate | SE | 90% CI | p | p (Holm) | n1 | n0 | estimate/sd | "
                        "90% CI/sd | breakdown delta | truth |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)
    assert "| RATE | ATU | +2.0000 | 1.0000 |" in table
    assert len(lines) == 2 + 9
    context = tables.format_table([{"dataset": "d", "reward_key": "k", **row} for row in r["estimates"]], 0.1)
    assert "| d | k | naive | ATE |" in context
