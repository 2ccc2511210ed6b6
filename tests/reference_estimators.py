"""The estimators one example at a time: an independent, plainly written implementation that the
vectorised code of estimation/stats.py is checked against (tests/test_estimators.py) and timed
against (bench/bench_effects.py). It lives with the tests because nothing else uses it."""

from __future__ import annotations

import math

from scipy import stats


def _mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(variance / n)


def _variance(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def loop_estimates(w: list, y: list, r: list, rr: list, alpha: float = 0.05) -> dict[str, tuple[float, float]]:
    """The estimators one example at a time, collecting per-group lists as the original code did.
    Returns {original JSON key: (estimate, SE)}; intervals and p-values are computed as well, so that
    the loop does the same work as the vectorised code."""
    groups = {True: {"y": [], "single": [], "rate": [], "do1": [], "do0": [], "rewrite": []},
              False: {"y": [], "single": [], "rate": [], "do1": [], "do0": [], "rewrite": []}}
    single_all, rate_all, do1_all, do0_all = [], [], [], []
    for wi, yi, ri, rri in zip(w, y, r, rr):
        group = groups[bool(wi)]
        single = yi - ri if wi else ri - yi
        rate = rri - ri if wi else ri - rri
        do1, do0 = (rri, ri) if wi else (ri, rri)
        group["y"].append(yi)
        group["single"].append(single)
        group["rate"].append(rate)
        group["do1"].append(do1)
        group["do0"].append(do0)
        group["rewrite"].append(rri - yi)
        single_all.append(single)
        rate_all.append(rate)
        do1_all.append(do1)
        do0_all.append(do0)
    treated, control = groups[True], groups[False]
    n1, n0 = len(treated["y"]), len(control["y"])
    v1, v0 = _variance(treated["y"]), _variance(control["y"])
    out = {"naive_effect": (sum(treated["y"]) / n1 - sum(control["y"]) / n0, math.sqrt(v1 / n1 + v0 / n0))}
    for name, key in (("single_rewrite", "single"), ("rewritten_rewrite", "rate")):
        out[f"ATT_{name}"] = _mean_se(treated[key])
        out[f"ATU_{name}"] = _mean_se(control[key])
        out[f"ATE_{name}"] = _mean_se(single_all if key == "single" else rate_all)
    unpaired = {"ATT": math.sqrt(_variance(treated["do1"]) / n1 + _variance(treated["do0"]) / n1),
                "ATU": math.sqrt(_variance(control["do1"]) / n0 + _variance(control["do0"]) / n0),
                "ATE": math.sqrt(_variance(do1_all) / (n1 + n0) + _variance(do0_all) / (n1 + n0))}
    reward_std = math.sqrt(((n1 - 1) * v1 + (n0 - 1) * v0) / (n1 + n0 - 2))
    e1, e0 = _mean_se(treated["rewrite"]), _mean_se(control["rewrite"])
    asymmetry = (e1[0] - e0[0], math.sqrt(e1[1] ** 2 + e0[1] ** 2))
    for key, (estimate, se) in [*out.items(), ("asymmetry", asymmetry)]:
        df = n1 + n0 - 1 if key.startswith("ATE") else (n1 - 1 if key.startswith("ATT") else n0 - 1)
        half = stats.t.ppf(1 - alpha / 2, df) * se
        _ = (estimate - half, estimate + half, 2 * stats.t.sf(abs(estimate) / se, df), estimate / reward_std)
    assert unpaired and reward_std > 0
    return out
