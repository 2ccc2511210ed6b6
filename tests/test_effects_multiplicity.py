"""Multiple-comparison adjustments and inverse-variance pooling (estimation/multiplicity.py).

Expected values come from hand arithmetic written out below, from brute-force definitions that share
no code or sorting logic with the module (statsmodels is not in the venv), and from seeded Monte Carlo
checks of the error rates and coverage each method promises.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from estimation import multiplicity as mt

Z975 = 1.959963984540054  # standard normal 0.975 quantile, from tables, not from scipy


def brute_holm(p: list[float]) -> list[float]:
    """Holm as closed testing with Bonferroni local tests: H_i is rejected at alpha iff every
    intersection hypothesis S containing i has |S| * min_{j in S} p_j <= alpha, so the adjusted p_i is
    the maximum of that over all subsets S containing i. Exponential, and shares no code with the module."""
    m = len(p)
    out = []
    for i in range(m):
        others = [j for j in range(m) if j != i]
        worst = 0.0
        for size in range(m):
            for rest in itertools.combinations(others, size):
                subset = (i, *rest)
                worst = max(worst, min(1.0, len(subset) * min(p[j] for j in subset)))
        out.append(worst)
    return out


def brute_bh(p: list[float]) -> list[float]:
    """BH as the smallest level at which H_i is rejected: BH rejects everything at or below the largest
    threshold t among the p-values with m t / #{j: p_j <= t} <= alpha, so the adjusted p_i is the
    minimum of m t / #{p_j <= t} over thresholds t >= p_i. Ranks come from counts, not from a sort."""
    m = len(p)
    out = []
    for pi in p:
        candidates = [min(1.0, m * t / sum(1 for q in p if q <= t)) for t in p if t >= pi]
        out.append(min(candidates))
    return out


# ---------------------------------------------------------------- hand-worked examples

def test_holm_hand_example():
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Sorted: 0.005 (#3), 0.01 (#0), 0.03 (#2), 0.04 (#1).
    # Multipliers m-j+1 = 4, 3, 2, 1:    0.020, 0.030, 0.060, 0.040
    # Running maximum (step-down):       0.020, 0.030, 0.060, 0.060
    got = mt.holm([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_hand_example():
    # Same p. m p_(j)/j: 4*0.005/1 = 0.02, 4*0.01/2 = 0.02, 4*0.03/3 = 0.04, 4*0.04/4 = 0.04
    # Running minimum from the largest down (step-up): 0.02, 0.02, 0.04, 0.04
    got = mt.benjamini_hochberg([0.01, 0.04, 0.03, 0.005])
    assert got == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_bh_step_up_lowers_earlier_values():
    # p = [0.01, 0.02, 0.025, 0.5]: m p/j = 0.04, 0.04, 0.1/3 = 0.0333, 0.5
    # Minimum from the top: 0.5, then 0.0333 carries down to the first two.
    got = mt.benjamini_hochberg([0.01, 0.02, 0.025, 0.5])
    assert got == pytest.approx([1 / 30, 1 / 30, 1 / 30, 0.5])
    # Holm on the same: 4*0.01 = 0.04, 3*0.02 = 0.06, 2*0.025 = 0.05 -> max 0.06, 1*0.5 = 0.5
    assert mt.holm([0.01, 0.02, 0.025, 0.5]) == pytest.approx([0.04, 0.06, 0.06, 0.5])


def test_ties_get_equal_adjusted_values():
    # p = [0.02, 0.02, 0.5]. Holm: 3*0.02 = 0.06, 2*0.02 = 0.04 -> max 0.06, 0.5.
    assert mt.holm([0.02, 0.02, 0.5]) == pytest.approx([0.06, 0.06, 0.5])
    # BH: 3*0.02/1 = 0.06, 3*0.02/2 = 0.03, 3*0.5/3 = 0.5 -> min from the top: 0.5, 0.03, 0.03.
    assert mt.benjamini_hochberg([0.02, 0.02, 0.5]) == pytest.approx([0.03, 0.03, 0.5])


def test_adjusted_values_are_capped_at_one():
    # Holm [0.6, 0.7]: min(1, 2*0.6) = 1, 0.7 -> running max 1, 1.
    assert mt.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])
    # BH [0.6, 0.7]: min(1, 2*0.6/1) = 1, 2*0.7/2 = 0.7 -> min from the top 0.7, 0.7.
    assert mt.benjamini_hochberg([0.6, 0.7]) == pytest.approx([0.7, 0.7])


@pytest.mark.parametrize("adjust", [mt.holm, mt.benjamini_hochberg])
def test_family_of_one_is_unchanged(adjust):
    assert adjust([0.037]) == pytest.approx([0.037])
    assert adjust([None, 0.037, None]) == [None, pytest.approx(0.037), None]


# ---------------------------------------------------------------- against brute-force definitions

@pytest.mark.parametrize("seed", range(30))
def test_against_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(2, 9))
    # Rounding to a coarse grid makes ties frequent; a few near-zero values exercise the cap at the other end.
    p = [float(v) for v in np.round(rng.random(m) ** 2, 1 if seed % 2 else 2)]
    assert mt.holm(p) == pytest.approx(brute_holm(p), abs=1e-12)
    assert mt.benjamini_hochberg(p) == pytest.approx(brute_bh(p), abs=1e-12)


def test_brute_force_definitions_agree_with_the_hand_example():
    # Guards the oracles themselves: they must reproduce the hand arithmetic above.
    assert brute_holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert brute_bh([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])


# ---------------------------------------------------------------- undefined rows

def test_none_entries_are_skipped_and_kept_in_place():
    p = [None, 0.01, None, 0.03, 0.04]
    # The family is the three defined values (m = 3, not 5).
    # Holm: 3*0.01 = 0.03, 2*0.03 = 0.06, 1*0.04 = 0.04 -> max 0.03, 0.06, 0.06
    assert mt.holm(p) == [None, pytest.approx(0.03), None, pytest.approx(0.06), pytest.approx(0.06)]
    # BH: 3*0.01/1 = 0.03, 3*0.03/2 = 0.045, 3*0.04/3 = 0.04 -> min from the top 0.03, 0.04, 0.04
    assert mt.benjamini_hochberg(p) == [None, pytest.approx(0.03), None, pytest.approx(0.04), pytest.approx(0.04)]


@pytest.mark.parametrize("adjust", [mt.holm, mt.benjamini_hochberg])
def test_all_none_and_empty(adjust):
    assert adjust([None, None]) == [None, None]
    assert adjust([]) == []


@pytest.mark.parametrize("adjust", [mt.holm, mt.benjamini_hochberg])
@pytest.mark.parametrize("bad", [float("nan"), -0.1, 1.5])
def test_invalid_p_is_an_error(adjust, bad):
    with pytest.raises(ValueError, match="p-values must lie in"):
        adjust([0.1, bad])


# ---------------------------------------------------------------- error rates under the global null

REPLICATES, FAMILY, ALPHA = 2000, 45, 0.05


def _error_rates(p_matrix: np.ndarray) -> dict:
    """Share of replicate families with any raw p < ALPHA, Holm's FWER and BH's FDR (every null is
    true, so every rejection is false: FDR = E[V / max(R, 1)] with V = R)."""
    any_raw = np.mean(np.any(p_matrix < ALPHA, axis=1))
    holm_reject = np.array([np.array(mt.holm(list(row))) <= ALPHA for row in p_matrix])
    bh_reject = np.array([np.array(mt.benjamini_hochberg(list(row))) <= ALPHA for row in p_matrix])
    false_bh = bh_reject.sum(axis=1)
    fdr = np.mean(false_bh / np.maximum(false_bh, 1))
    return {"raw": any_raw, "holm": np.mean(holm_reject.any(axis=1)), "bh_fdr": fdr}


def test_global_null_independent_uniforms():
    rng = np.random.default_rng(20240601)
    rates = _error_rates(rng.random((REPLICATES, FAMILY)))
    # Unadjusted: 1 - 0.95^45 = 0.90 of families show a "significant" result.
    assert 1 - 0.95 ** 45 == pytest.approx(0.90, abs=0.01)
    assert rates["raw"] > 0.85
    # Holm: 1 - (1 - 0.05/45)^45 = 0.049 here; BH: exactly 0.05. MC SE about 0.005.
    assert rates["holm"] <= 0.06
    assert rates["bh_fdr"] <= 0.06
    # The adjustments must actually reject sometimes, or the bounds above would hold vacuously.
    assert rates["holm"] > 0.02 and rates["bh_fdr"] > 0.02


def test_global_null_equicorrelated_normals_holm():
    # z_i = sqrt(rho) Z_0 + sqrt(1 - rho) e_i has unit variance and corr(z_i, z_j) = rho = 0.5,
    # like estimates sharing examples. Holm needs no independence; it is conservative here.
    rng = np.random.default_rng(7)
    rho = 0.5
    z = math.sqrt(rho) * rng.standard_normal((REPLICATES, 1)) + math.sqrt(1 - rho) * rng.standard_normal((REPLICATES, FAMILY))
    p = np.array([[math.erfc(abs(v) / math.sqrt(2)) for v in row] for row in z])  # two-sided normal p
    rates = _error_rates(p)
    assert rates["raw"] > 0.3  # correlation clusters the false positives but still leaves many
    assert rates["holm"] <= 0.06


# ---------------------------------------------------------------- pooling

def test_equal_ses_give_the_plain_mean():
    out = mt.pool_inverse_variance([1.0, 2.0, 6.0], [2.0, 2.0, 2.0])
    assert out["estimate"] == pytest.approx(3.0)
    assert out["se"] == pytest.approx(2.0 / math.sqrt(3))
    assert out["k"] == 3 and out["q_df"] == 2
    # Q = ((1-3)^2 + (2-3)^2 + (6-3)^2) / 4 = 14/4 = 3.5; I^2 = (3.5 - 2)/3.5
    assert out["q"] == pytest.approx(3.5)
    assert out["i2"] == pytest.approx(1.5 / 3.5)


def test_identical_estimates_have_no_heterogeneity():
    out = mt.pool_inverse_variance([0.7, 0.7, 0.7, 0.7], [0.1, 0.3, 0.2, 1.0])
    assert out["estimate"] == pytest.approx(0.7)
    assert out["q"] == pytest.approx(0.0, abs=1e-20)
    assert out["i2"] == 0.0
    assert out["q_p"] == pytest.approx(1.0)
    re = out["random_effects"]
    assert re["tau2"] == 0.0
    assert re["estimate"] == pytest.approx(out["estimate"]) and re["se"] == pytest.approx(out["se"])


def test_three_studies_by_hand():
    # x = [0, 2, 6], se = [1, 0.5, 2]  ->  w = [1, 4, 0.25], sum w = 5.25, sum w x = 0 + 8 + 1.5 = 9.5
    # pooled = 9.5 / 5.25 = 38/21, SE = 1/sqrt(5.25)
    # residuals -38/21, 4/21, 88/21 -> Q = (1*1444 + 4*16 + 0.25*7744)/441 = 3444/441 = 164/21
    # chi-square with 2 df: sf(Q) = exp(-Q/2) = exp(-82/21)
    # I^2 = (164/21 - 2)/(164/21) = 122/164
    # DL: sum w^2 = 1 + 16 + 0.0625 = 17.0625, sum w^2 / sum w = 3.25, c = 5.25 - 3.25 = 2
    #     tau2 = (164/21 - 2)/2 = 61/21
    #     w* = 1/(1 + 61/21) = 21/82, 1/(0.25 + 61/21) = 84/265, 1/(4 + 61/21) = 21/145
    out = mt.pool_inverse_variance([0.0, 2.0, 6.0], [1.0, 0.5, 2.0])
    pooled, se = 38 / 21, 1 / math.sqrt(5.25)
    assert out["estimate"] == pytest.approx(pooled)
    assert out["se"] == pytest.approx(se)
    assert out["ci_low"] == pytest.approx(pooled - Z975 * se)
    assert out["ci_high"] == pytest.approx(pooled + Z975 * se)
    assert out["p"] == pytest.approx(math.erfc(pooled / se / math.sqrt(2)))
    assert out["q"] == pytest.approx(164 / 21)
    assert out["q_p"] == pytest.approx(math.exp(-82 / 21))
    assert out["i2"] == pytest.approx(122 / 164)

    re = out["random_effects"]
    w_star = [21 / 82, 84 / 265, 21 / 145]
    re_est = (w_star[1] * 2 + w_star[2] * 6) / sum(w_star)
    re_se = 1 / math.sqrt(sum(w_star))
    assert re["tau2"] == pytest.approx(61 / 21)
    assert re["estimate"] == pytest.approx(re_est)
    assert re["se"] == pytest.approx(re_se)
    assert re["ci_low"] == pytest.approx(re_est - Z975 * re_se)
    assert re["ci_high"] == pytest.approx(re_est + Z975 * re_se)
    assert re["p"] == pytest.approx(math.erfc(re_est / re_se / math.sqrt(2)))


def test_alpha_sets_the_interval_width():
    # z_{0.95} = 1.6448536269514722 (tables) for alpha = 0.10.
    out = mt.pool_inverse_variance([1.0, 3.0], [1.0, 1.0], alpha=0.10)
    assert out["ci_high"] - out["estimate"] == pytest.approx(1.6448536269514722 / math.sqrt(2))


@pytest.mark.parametrize("estimates, ses, message", [
    ([1.0], [1.0], "at least 2"),
    ([1.0, 2.0], [1.0], "standard errors"),
    ([1.0, None], [1.0, 1.0], "estimate 1 is undefined"),
    ([1.0, 2.0], [1.0, None], "estimate 1 is undefined"),
    ([1.0, 2.0], [0.0, 1.0], "estimate 0 is undefined"),
    ([1.0, 2.0], [1.0, float("inf")], "estimate 1 is undefined"),
    ([float("nan"), 2.0], [1.0, 1.0], "estimate 0 is undefined"),
    ([1.0, 2.0], [-1.0, 1.0], "estimate 0 is undefined"),
])
def test_invalid_pooling_inputs_are_errors(estimates, ses, message):
    with pytest.raises(ValueError, match=message):
        mt.pool_inverse_variance(estimates, ses)


def _coverage(truth: float, tau: float, ses: np.ndarray, seed: int) -> dict:
    """Share of REPLICATES in which each interval covers `truth`, and the mean I^2, when study i
    estimates truth + u_i (u_i ~ N(0, tau^2)) with sampling error N(0, ses_i^2)."""
    rng = np.random.default_rng(seed)
    draws = truth + tau * rng.standard_normal((REPLICATES, ses.size)) + ses * rng.standard_normal((REPLICATES, ses.size))
    fixed = random = 0
    i2 = []
    for row in draws:
        out = mt.pool_inverse_variance(list(row), list(ses))
        fixed += out["ci_low"] <= truth <= out["ci_high"]
        random += out["random_effects"]["ci_low"] <= truth <= out["random_effects"]["ci_high"]
        i2.append(out["i2"])
    return {"fixed": fixed / REPLICATES, "random": random / REPLICATES, "i2": float(np.mean(i2))}


def test_fixed_effect_interval_covers_a_common_effect():
    cover = _coverage(truth=1.0, tau=0.0, ses=np.array([0.5, 1.0, 1.0, 2.0, 1.5]), seed=11)
    # Nominal 0.95; the Monte Carlo SE is sqrt(0.95*0.05/2000) = 0.005.
    assert 0.93 <= cover["fixed"] <= 0.97


def test_heterogeneity_is_detected_and_random_effects_covers_more():
    se = 1.0
    cover = _coverage(truth=1.0, tau=3 * se, ses=np.full(5, se), seed=12)
    # True I^2 = tau^2/(tau^2 + se^2) = 0.9; with k = 5 the estimate is noisy but large.
    assert cover["i2"] > 0.5
    # Fixed-effect SE 1/sqrt(5) ignores tau: actual SD of the mean is sqrt(10/5), so it covers ~46%.
    assert cover["fixed"] < 0.7
    assert cover["random"] > cover["fixed"] + 0.2
