"""What the off-target asymmetry diagnostic can and cannot tell about RATE's bias, seeded and offline.

The model (estimation.stats.rewrite_effects): R = tau*W + f(content) + g(style), f(c) = c, c ~ N(0, 1).
An original's style reward is g_i = GAP*W_i + N(0, 0.5), so the groups' originals differ by GAP in mean
style reward. The rewriter keeps the content and replaces the style: Re(., 1) leaves a style reward
s01 ~ N(mu01, 0.3), Re(., 0) leaves s10 ~ N(mu10, 0.3), fresh per text; Delta = mu01 - mu10. Hence
  y = tau*W + c + g,  r = tau*(1-W) + c + (s10 if W else s01),  rr = tau*W + c + (s01 if W else s10).
RATE's bias is +Delta for ATE, ATT and ATU. The diagnostic is e1 - e0 with e_g = mean(rr - y | W=g), so
e1 = mu01 - GAP and e0 = mu10: it estimates Delta - GAP, with GAP > 0 meaning the W=1 originals carry
the higher style reward. It therefore fails both ways: GAP = Delta silences it while RATE is biased, and
GAP != 0 = Delta fires it while RATE is fine. A placebo reward that ignores W does not have that flaw.
Every replicate is one row of (REPLICATES, N) arrays, evaluated in one vectorised call.
"""

from __future__ import annotations

import pytest

import numpy as np

from estimation import stats as es

REPLICATES, N, ALPHA = 2000, 1000, 0.05
TAU, MU10 = 0.5, -0.5
STYLE_SD, REWRITE_SD = 0.5, 0.3
PLACEBO_SCALE = 2.0


def simulate(seed: int, delta: float, gap: float) -> dict:
    rng = np.random.default_rng(seed)
    shape = (REPLICATES, N)
    w = rng.random(shape) < 0.5
    content = rng.normal(0.0, 1.0, shape)
    g = gap * w + rng.normal(0.0, STYLE_SD, shape)
    s01 = rng.normal(MU10 + delta, REWRITE_SD, shape)
    s10 = rng.normal(MU10, REWRITE_SD, shape)
    # the rewrite goes to 1 - W, so it carries the style of that direction; the rewritten rewrite the other
    s_r, s_rr = np.where(w, s10, s01), np.where(w, s01, s10)
    return {
        "w": w,
        "y": TAU * w + content + g,
        "r": TAU * ~w + content + s_r,
        "rr": TAU * w + content + s_rr,
        # the same style draws through a reward that ignores W and content, so its true effect is 0
        "placebo": {"y": PLACEBO_SCALE * g, "r": PLACEBO_SCALE * s_r, "rr": PLACEBO_SCALE * s_rr},
    }


def covers(effect: es.Effect, value: float) -> float:
    low, high, _ = es.t_interval(effect, ALPHA)
    return float(np.mean((low <= value) & (value <= high)))


def fire_rate(asymmetry: es.Effect) -> float:
    _, _, p = es.t_interval(asymmetry, ALPHA)
    return float(np.mean(p < ALPHA))


def analyse(data: dict) -> dict:
    return es.compute(data["w"], data["y"], data["r"], data["rr"])


@pytest.mark.slow
def test_silent_diagnostic_while_rate_is_biased():
    """Delta = 0.3 cancelled by GAP = 0.3: the diagnostic fires at about its level (about 5 %) while
    RATE's 95 % interval for the ATE covers tau in about 0 % of replicates. Silence certifies nothing."""
    result = analyse(simulate(seed=11, delta=0.3, gap=0.3))
    assert 0.03 <= fire_rate(result["rewrite"]["asymmetry"]) <= 0.08
    assert covers(result["effects"][("RATE", "ATE")], TAU) < 0.02


@pytest.mark.slow
def test_false_alarm_while_rate_is_unbiased():
    """Delta = 0, GAP = 0.3: RATE covers tau in about 95 % of replicates, yet the diagnostic fires in
    about every replicate because it reads the originals' style gap as asymmetry."""
    result = analyse(simulate(seed=12, delta=0.0, gap=0.3))
    assert 0.93 <= covers(result["effects"][("RATE", "ATE")], TAU) <= 0.97
    assert fire_rate(result["rewrite"]["asymmetry"]) > 0.95


@pytest.mark.slow
def test_without_a_style_gap_the_diagnostic_measures_rates_bias():
    """Delta = 0.3, GAP = 0: the diagnostic fires in about every replicate, its mean is about 0.3, and
    RATE's bias is about 0.3 for every estimand: the bias is additive in Delta, whatever tau."""
    result = analyse(simulate(seed=13, delta=0.3, gap=0.0))
    asymmetry = result["rewrite"]["asymmetry"]
    assert fire_rate(asymmetry) > 0.95
    assert abs(np.mean(asymmetry.estimate) - 0.3) < 0.01
    for estimand in es.ESTIMANDS:
        bias = np.mean(result["effects"][("RATE", estimand)].estimate) - TAU
        assert abs(bias - 0.3) < 0.01, (estimand, bias)


@pytest.mark.slow
def test_placebo_reward_measures_its_share_of_delta():
    """A reward P = 2*g(style) that ignores W: RATE on P has mean about 2*Delta = 0.6 when Delta = 0.3,
    and with Delta = 0 its 95 % interval covers 0 in about 95 % of replicates. Unlike the asymmetry, the
    originals' style gap (0.3 in both runs) does not enter, because RATE never uses P(original)."""
    data = simulate(seed=14, delta=0.3, gap=0.3)
    placebo = es.compute(data["w"], **data["placebo"])["effects"][("RATE", "ATE")]
    assert abs(np.mean(placebo.estimate) - PLACEBO_SCALE * 0.3) < 0.01

    data = simulate(seed=15, delta=0.0, gap=0.3)
    placebo = es.compute(data["w"], **data["placebo"])["effects"][("RATE", "ATE")]
    assert 0.93 <= covers(placebo, 0.0) <= 0.97
