"""How far RATE's conclusion survives an asymmetric rewriter.

RATE is unbiased when the rewriter's off-target changes are the same in both directions. When they
differ, by Delta = E[off-target reward left by Re(., 1)] - E[that left by Re(., 0)], every RATE
estimate (ATE, ATT and ATU alike) is shifted by exactly +Delta (estimation.stats.rewrite_effects), so
the estimate and both ends of its interval, corrected for a given Delta, are the reported ones minus
Delta. Delta is not identified from the data; this module says what each Delta would imply:

- the interval shifted by each Delta of a grid (`effects.sensitivity_deltas`, raw reward units);
- the breakdown Delta: the Delta of smallest size at which the interval reaches 0, i.e. its lower end
  when the interval lies above 0, its upper end when below, and 0 when it already holds 0. A finding
  whose breakdown Delta is small next to what a rewriter's off-target changes could plausibly be worth
  (the placebo reward, the asymmetry diagnostic, the rewrites themselves) is fragile.
"""

from __future__ import annotations

import math

GRID_POINTS = 9
MEANING = ("RATE's estimate and interval if the rewriter's off-target changes added delta more reward in the "
           "direction W=0->1 than in W=1->0 (RATE's bias is exactly +delta): each is the reported one minus delta. "
           "breakdown_delta is the delta of smallest size at which the interval reaches 0 (0: it already holds 0)")


def breakdown(ci_low: float | None, ci_high: float | None) -> float | None:
    if ci_low is None or ci_high is None:
        return None
    if ci_low > 0:
        return ci_low
    if ci_high < 0:
        return ci_high
    return 0.0


def side(low: float, high: float) -> str:
    """Where an interval lies: the conclusion it supports."""
    return "above 0" if low > 0 else ("below 0" if high < 0 else "holds 0")


def default_grid(rows: list[dict]) -> list[float]:
    """Symmetric around 0, out to twice the largest breakdown Delta (or four SEs when every interval
    already holds 0), rounded to 3 significant digits so that the table reads."""
    reach = max([abs(row["breakdown_delta"]) for row in rows if row.get("breakdown_delta") is not None] or [0.0])
    if reach == 0:
        reach = 2 * max([row["se"] for row in rows if row.get("se")] or [1.0])
    step = 2 * reach / ((GRID_POINTS - 1) / 2)
    digits = 2 - int(math.floor(math.log10(step))) if step > 0 else 0
    return [round(step * k, digits) for k in range(-(GRID_POINTS // 2), GRID_POINTS // 2 + 1)]


def analyse(rows: list[dict], std: float | None, deltas: list | None) -> dict:
    """The sensitivity of each RATE row (sets its `breakdown_delta` and `norm_breakdown_delta`), and
    the shifted intervals over the grid."""
    rate = [row for row in rows if row["estimator"] == "RATE"]
    for row in rate:
        row["breakdown_delta"] = breakdown(row["ci_low"], row["ci_high"])
        row["norm_breakdown_delta"] = (row["breakdown_delta"] / std if std and row["breakdown_delta"] is not None
                                       else None)
    grid = [float(d) for d in deltas] if deltas is not None else default_grid(rate)
    shifted = {}
    for row in rate:
        if row["ci_low"] is None:
            continue
        shifted[row["estimand"]] = [
            {"delta": delta, "estimate": row["estimate"] - delta, "ci_low": row["ci_low"] - delta,
             "ci_high": row["ci_high"] - delta, "side": side(row["ci_low"] - delta, row["ci_high"] - delta)}
            for delta in grid]
    return {"deltas": grid, "grid": "given (effects.sensitivity_deltas)" if deltas is not None else "automatic",
            "breakdown": {row["estimand"]: {"delta": row["breakdown_delta"], "effect_size": row["norm_breakdown_delta"]}
                          for row in rate},
            "shifted": shifted, "meaning": MEANING}
