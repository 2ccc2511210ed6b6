"""Seeded nonparametric bootstrap intervals for every estimator of estimation/stats.py: the studentized
bootstrap (bootstrap-t).

Why studentized, not percentile or BCa: every estimator is a mean or a difference of means with a
closed-form SE, so each resample's SE costs nothing more than its estimate, and the pivot
t* = (estimate* - estimate)/SE* is available without a nested bootstrap. For such smooth functions of
means the bootstrap-t interval is second-order accurate (coverage error O(1/n), Hall 1988), and it
corrects for skewed per-example differences, which the t interval of treatment_effects.py cannot.
The percentile interval is only first-order accurate and too narrow in small samples; BCa is also
second-order accurate but needs a jackknife for its acceleration and is no better for a mean. The
known weakness of bootstrap-t, erratic intervals with very few examples or heavy tails, makes it
wide rather than falsely narrow.

Resampling: whole examples (w and all rewards together) with replacement, over all n, so n1 varies
between resamples exactly as the ATE's SE assumes (estimation.stats.paired_effects). A resample in which a
group has fewer than 2 examples has no SE for the statistics that use that group; it is left out of
those statistics only, and the number of usable resamples is reported.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from estimation import stats as es

METHOD = "studentized (bootstrap-t), examples resampled with replacement"
# Resamples are drawn in blocks of about this many example indices, to bound memory at large n.
BLOCK_CELLS = 1 << 22
MIN_GROUP = 5
SE_RTOL = 1e-6


def _features(w: np.ndarray, series: dict[str, np.ndarray]) -> tuple[np.ndarray, dict]:
    """Per-example columns whose count-weighted sums give, for each series and group, the count, the sum
    and the sum of squares. Values are centred on the full-sample group mean first, so that the
    variance from sums of squares loses no precision."""
    treated = w.astype(float)
    columns, centres = [treated, 1.0 - treated], {}
    for name, values in series.items():
        m = es.group_moments(values, w)
        centres[name] = (m.mean1, m.mean0)
        centred = values - np.where(w, m.mean1, m.mean0)
        for mask in (treated, 1.0 - treated):
            columns += [mask * centred, mask * np.square(centred)]
    return np.column_stack(columns), centres


def _resample_effects(sums: np.ndarray, centres: dict, n: int) -> dict:
    """Every estimator's estimate and SE on each resample, from the block's weighted column sums."""
    n1, n0 = sums[:, 0], sums[:, 1]
    moments = {}
    for index, (name, (centre1, centre0)) in enumerate(centres.items()):
        s1, q1, s0, q0 = sums[:, 2 + 4 * index: 6 + 4 * index].T
        with np.errstate(invalid="ignore", divide="ignore"):
            var1 = np.where(n1 > 1, (q1 - s1 * s1 / n1) / (n1 - 1), np.nan)
            var0 = np.where(n0 > 1, (q0 - s0 * s0 / n0) / (n0 - 1), np.nan)
            moments[name] = es.GroupMoments(n1, n0, centre1 + s1 / n1, centre0 + s0 / n0, var1, var0)
    effects = {("naive", k): es.welch(moments["naive"]) for k in es.ESTIMANDS}
    for name in ("single rewrite", "RATE"):
        m = moments[name]
        with np.errstate(invalid="ignore", divide="ignore"):
            ate = (n1 * m.mean1 + n0 * m.mean0) / n
            # within-group plus between-group sums of squares give the variance over all n
            spread = ((n1 - 1) * m.var1 + (n0 - 1) * m.var0 + n1 * np.square(m.mean1 - ate)
                      + n0 * np.square(m.mean0 - ate)) / (n - 1)
            effects[(name, "ATE")] = es.Effect(ate, np.sqrt(spread / n), n - 1)
            effects[(name, "ATT")] = es.Effect(m.mean1, np.sqrt(m.var1 / n1), n1 - 1)
            effects[(name, "ATU")] = es.Effect(m.mean0, np.sqrt(m.var0 / n0), n0 - 1)
    return effects


def refusals(w: np.ndarray, keys) -> dict:
    """Why some statistics get no bootstrap interval before any resample is drawn: a W group of fewer
    than MIN_GROUP examples. With so few, many resamples repeat one example, whose SE* is rounding
    noise (n1 = 2 gave SE* ~ 4e-9 and an interval of +-7.6e7)."""
    n1, n0 = int(np.sum(w)), int(np.sum(~w))
    small = {group: count for group, count in (("W=1", n1), ("W=0", n0)) if count < MIN_GROUP}
    out = {}
    for estimator, estimand in keys:
        used = {"ATT": ("W=1",), "ATU": ("W=0",)}.get(estimand if estimator != "naive" else "ATE", ("W=1", "W=0"))
        short = [f"{group} has {small[group]}" for group in used if group in small]
        if short:
            out[(estimator, estimand)] = (f"refused: {' and '.join(short)} examples; the bootstrap needs at least "
                                          f"{MIN_GROUP} in each group it resamples")
    return out


def bootstrap_intervals(w: np.ndarray, y: np.ndarray, r: np.ndarray, rr: np.ndarray, alpha: float,
                        resamples: int, seed: int, observed: dict | None = None) -> dict:
    """Studentized (1 - alpha) intervals for every (estimator, estimand) of `observed` (the output of
    estimation.stats.compute on the same data; computed when not given). Same data, seed and resamples
    give the same intervals.

    Returns {"intervals": {key: (low, high)}, "usable": {key: resamples with a finite pivot},
    "refused": {key: reason}}. A key whose full-sample SE is undefined gets no interval; a key is
    refused (no interval, the reason instead) when a group it uses is smaller than MIN_GROUP, or when a
    resample's SE* falls below SE_RTOL times the full sample's: its pivot is then rounding noise."""
    w = np.asarray(w, dtype=bool)
    n = w.shape[-1]
    observed = observed or es.compute(w, y, r, rr)
    features, centres = _features(w, {"naive": y, "single rewrite": es.oriented(w, y, r),
                                      "RATE": es.oriented(w, rr, r)})
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, BLOCK_CELLS // n))
    pivots: dict = {key: [] for key in observed["effects"]}
    refused = refusals(w, observed["effects"])
    degenerate = {key: 0 for key in observed["effects"]}
    # a bar only where the wait is noticeable (about a second or more on a laptop)
    quiet = resamples * n < 50_000_000
    with tqdm(total=resamples, desc="bootstrap resamples", unit="resample", leave=False, disable=quiet) as bar:
        for start in range(0, resamples, block):
            size = min(block, resamples - start)
            # counts[b, i] = how often example i is drawn in resample b
            draws = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
            counts = np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)
            for key, effect in _resample_effects(counts @ features, centres, n).items():
                estimate = observed["effects"][key].estimate
                with np.errstate(invalid="ignore", divide="ignore"):
                    pivots[key].append((effect.estimate - estimate) / effect.se)
                    tiny = np.isfinite(effect.se) & (effect.se < SE_RTOL * observed["effects"][key].se)
                degenerate[key] += int(tiny.sum())
            bar.update(size)
    intervals, usable = {}, {}
    for key, values in pivots.items():
        values = np.concatenate(values)
        values = values[np.isfinite(values)]
        usable[key] = int(values.size)
        effect = observed["effects"][key]
        if degenerate[key] and key not in refused:
            refused[key] = (f"refused: {degenerate[key]} of {resamples} resamples have an SE below {SE_RTOL:g} of the "
                            f"full sample's (resamples of nearly identical examples), so the studentized pivot is "
                            f"rounding noise")
        if key in refused or values.size == 0 or not np.isfinite(effect.se):
            continue
        upper_pivot, lower_pivot = np.quantile(values, [1 - alpha / 2, alpha / 2])
        # the pivot's upper quantile sets the interval's lower end, and vice versa
        intervals[key] = (float(effect.estimate - upper_pivot * effect.se),
                          float(effect.estimate - lower_pivot * effect.se))
    return {"intervals": intervals, "usable": usable, "refused": refused}
