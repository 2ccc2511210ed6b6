"""The estimators of treatment_effects.py on examples computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

import treatment_effects as te


def arrays(w, original, rewrite, back, oracle=None):
    out = {"w": np.array(w, dtype=bool), "original": np.array(original, float), "rewrite": np.array(rewrite, float),
           "rewritten rewrite": np.array(back, float)}
    if oracle is not None:
        out[te.ORACLE] = np.array(oracle, float)
    return out


# Two treated (W=1) and two control (W=0) examples; every number below is worked out in the comments.
HAND = arrays(w=[1, 1, 0, 0], original=[3, 5, 1, 2], rewrite=[1, 2, 2, 4], back=[2, 4, 1, 1], oracle=[0, 4, 3, 3])


def test_naive_is_difference_of_group_means_with_welch_se():
    r = te.estimate(HAND, alpha=0.05)
    assert r["naive_effect"] == pytest.approx(4.0 - 1.5)  # mean(3,5) - mean(1,2)
    assert r["naive_effect_stderr"] == pytest.approx(math.sqrt(2 / 2 + 0.5 / 2))  # var(3,5)=2, var(1,2)=0.5


def test_single_rewrite_is_original_minus_rewrite_oriented_by_w():
    r = te.estimate(HAND, alpha=0.05)
    # W=1: R(y) - R(rewrite) = [2, 3]; W=0: R(rewrite) - R(y) = [1, 2]
    assert r["ATT_single_rewrite"] == pytest.approx(2.5)
    assert r["ATU_single_rewrite"] == pytest.approx(1.5)
    assert r["ATE_single_rewrite"] == pytest.approx(2.0)
    assert r["ATT_single_rewrite_stderr"] == pytest.approx(math.sqrt(0.5) / math.sqrt(2))
    assert r["ATE_single_rewrite_stderr"] == pytest.approx(math.sqrt(2 / 3) / 2)  # sd of [2,3,1,2] / sqrt(4)


def test_rate_compares_rewrite_with_rewritten_rewrite():
    r = te.estimate(HAND, alpha=0.05)
    # W=1: R(rr) - R(rewrite) = [1, 2]; W=0: R(rewrite) - R(rr) = [1, 3]
    assert r["ATT_rewritten_rewrite"] == pytest.approx(1.5)
    assert r["ATU_rewritten_rewrite"] == pytest.approx(2.0)
    assert r["ATE_rewritten_rewrite"] == pytest.approx(1.75)
    assert r["ATU_rewritten_rewrite_stderr"] == pytest.approx(math.sqrt(2) / math.sqrt(2))  # sd(1,3)=sqrt(2)


def test_reward_std_counts_and_truth():
    r = te.estimate(HAND, alpha=0.05)
    assert r["reward_std"] == pytest.approx(math.sqrt((1 * 2 + 1 * 0.5) / 2))
    assert (r["Y1_count"], r["Y0_count"]) == (2, 2)
    # W=1: R(y) - R(oracle) = [3, 1]; W=0: R(oracle) - R(y) = [2, 1]
    assert r["ground_truth"] == pytest.approx({"ATT": 2.0, "ATU": 1.5, "ATE": 1.75})


def test_ate_is_weighted_average_of_att_and_atu_when_groups_are_unequal():
    rng = np.random.default_rng(0)
    n = 101
    data = arrays(w=rng.random(n) < 0.3, original=rng.normal(size=n), rewrite=rng.normal(size=n),
                  back=rng.normal(size=n))
    r = te.estimate(data, alpha=0.05)
    n1, n0 = r["Y1_count"], r["Y0_count"]
    assert n1 != n0
    for name in ("single_rewrite", "rewritten_rewrite"):
        pooled = (n1 * r[f"ATT_{name}"] + n0 * r[f"ATU_{name}"]) / (n1 + n0)
        assert r[f"ATE_{name}"] == pytest.approx(pooled, abs=1e-12)


def test_table_rows_carry_normal_intervals_at_alpha():
    r = te.estimate(HAND, alpha=0.10)
    row = next(x for x in r["estimates"] if x["estimator"] == "RATE" and x["estimand"] == "ATT")
    z = 1.6448536269514722  # standard normal 95th percentile, for a 90 % two-sided interval
    assert row["ci_low"] == pytest.approx(1.5 - z * r["ATT_rewritten_rewrite_stderr"])
    assert row["ci_high"] == pytest.approx(1.5 + z * r["ATT_rewritten_rewrite_stderr"])
    assert row["truth"] == pytest.approx(2.0)
    assert [(x["estimator"], x["estimand"]) for x in r["estimates"]][:2] == [("naive", "ATE"), ("single rewrite", "ATE")]


def test_fewer_than_two_per_group_is_a_clear_error():
    with pytest.raises(te.utils.RateError, match="n1=1, n0=3"):
        te.estimate(arrays(w=[1, 0, 0, 0], original=[1, 2, 3, 4], rewrite=[1, 2, 3, 4], back=[1, 2, 3, 4]), 0.05)


def test_unusable_examples_are_dropped_and_counted():
    keys = {"original": "original", "rewrite": "rewrite", "rewritten rewrite": "rewritten rewrite"}
    good = {"w_original": True, "m": {"original": 1.0, "rewrite": 0.5, "rewritten rewrite": 0.9}}
    records = [
        good,
        {**good, "w_original": False},
        {**good, "w_original": None},
        {**good, "failures": {"rewrite": "HTTP 500"}},
        {**good, "m": {"original": 1.0, "rewrite": float("nan"), "rewritten rewrite": 0.9}},
        {**good, "m": {"original": 1.0, "rewrite": 0.2}},
    ]
    data, dropped = te.reward_arrays(records, "m", keys)
    assert data["w"].tolist() == [True, False]
    assert data["rewrite"].tolist() == [0.5, 0.5]
    assert dropped == {"W unknown": 1, "failed rewrite": 1, "no finite reward for rewrite": 1,
                       "no finite reward for rewritten rewrite": 1}


def test_reward_key_is_found_or_must_be_named():
    records = [{"completions": {}, "a": {"original": 1}}, {"completions": {}, "a": {"original": 2}}]
    assert te.find_reward_key(records, None, "original", "f.jsonl") == "a"
    with pytest.raises(te.utils.RateError, match="no rewards under effects.reward_key 'b'"):
        te.find_reward_key(records, "b", "original", "f.jsonl")
    records[0]["b"] = {"original": 0}
    with pytest.raises(te.utils.RateError, match=r"set effects.reward_key.*\['a', 'b'\]"):
        te.find_reward_key(records, None, "original", "f.jsonl")
