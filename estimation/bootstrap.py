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

Counts, not indices: every statistic is a function of each group's count, sum and sum of squares, so
a resample is fully described by its counts c_i (how often example i is drawn), and its statistics are
count-weighted sums of seven per-example columns (_features): one matrix product per block of
resamples, with one-byte counts turned into floats a cache-sized chunk at a time. The examples are
ordered W=1 first, so that each group's sums run over one contiguous range; a resample's law does not
depend on the order of the examples.

Drawing the counts: n uniform indices, counted, give c ~ multinomial(n; 1/n, ..., 1/n). So does the
two-stage draw used here, which is therefore equal in distribution to it. The positions are cut into
buckets of BUCKET = 2^16 consecutive ones and a last, partial bucket; how many of the n draws fall in
each bucket is multinomial(n; bucket size / n), and given those numbers every draw is uniform within its
bucket, independently of the others: one uniform index, drawn in two steps. An offset within a full
bucket is 16 random bits, several times cheaper than a bounded random integer; the partial bucket's
offsets are bounded integers. With n < BUCKET there is only the partial bucket: the draws are then
exactly rng.integers(0, n) per resample, as a from-indices bootstrap of the W=1-first examples makes
them. The order and the two-stage draw make a seed's intervals differ from those of the implementation
before this one (indices into the examples in their given order), by Monte Carlo noise only. tests/test_effects_bootstrap.py checks the counts against the multinomial law, the statistics
from counts against the resampled examples', and the intervals against a from-indices implementation,
in distribution.

Cost (bench/bench_bootstrap.py): at n = 1,000,000 a resample costs about 1.2 times what drawing its n
indices with rng.integers(0, n, n) would (1.5 with the one-off features spread over 20 resamples), a
fifth of what the from-indices implementation before this one took.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from estimation import stats as es

METHOD = "studentized (bootstrap-t), examples resampled with replacement"
# Resamples are summed in blocks of about this many one-byte counts, to bound memory at large n; a
# block's resamples share one pass over the features.
BLOCK_CELLS = 1 << 24
# Draws are counted about this many at a time, which bounds their temporaries (about 5 bytes a draw)
# besides the block's counts.
DRAW_CELLS = 1 << 22
# Counts become floats for BLAS a chunk of CHUNK_ROWS resamples by CHUNK_CELLS counts at a time: the
# float copy stays in cache, and a product this small (m*n*k <= 2^18) runs on one OpenBLAS thread, whose
# hand-offs between threads cost more than they save here, and milliseconds when the other cores are busy.
CHUNK_ROWS = 16
CHUNK_CELLS = 1 << 15
# Examples per bucket of the two-stage draw; a power of two up to 2^16, so an offset is random bits.
BUCKET = 1 << 16
MIN_GROUP = 5
SE_RTOL = 1e-6


def _features(w: np.ndarray, y: np.ndarray, r: np.ndarray, rr: np.ndarray) -> tuple[np.ndarray, int, dict]:
    """Per-example columns [1, then the value and squared value of each series: naive R(original),
    single rewrite's and RATE's oriented differences (estimation.stats.oriented)], with the W=1 examples
    first and each group in its original order (np.argsort(~w, kind="stable")), and the number n1 of
    W=1 examples. Count-weighted sums of the columns over a group's range give its count, sum and sum
    of squares. Values are centred on the full-sample group mean first, so that the variance from sums
    of squares loses no precision."""
    order = np.concatenate([np.flatnonzero(w), np.flatnonzero(~w)])
    n, n1 = len(order), int(np.count_nonzero(w))
    # a column per row, each written contiguously: stacking columns side by side took as long as a dozen
    # resamples at a million examples
    rows = np.empty((7, n))
    rows[0] = 1.0
    sorted_r = r[order]
    np.take(y, order, out=rows[1])
    # oriented differences: same - flipped where w = 1 and flipped - same where w = 0, as in stats.oriented
    for row, same in ((3, rows[1]), (5, rr[order])):
        np.subtract(same[:n1], sorted_r[:n1], out=rows[row, :n1])
        np.subtract(sorted_r[n1:], same[n1:], out=rows[row, n1:])
    centres = {}
    for row, name in zip((1, 3, 5), es.ESTIMATORS):
        centres[name] = tuple(float(part.mean()) if part.size else 0.0 for part in (rows[row, :n1], rows[row, n1:]))
        rows[row, :n1] -= centres[name][0]
        rows[row, n1:] -= centres[name][1]
        np.square(rows[row], out=rows[row + 1])
    return rows.T, n1, centres


def _histogram(offsets: np.ndarray, row_counts: np.ndarray, out: np.ndarray) -> None:
    """out[k, j] = how many of row k's offsets equal j, where row k's offsets are the next
    row_counts[k] entries of `offsets` (CSR to dense sums the duplicates)."""
    from scipy import sparse  # here, not at the top: importing scipy takes a second, and --help needs none
    indptr = np.zeros(len(row_counts) + 1, dtype=np.int32)
    np.cumsum(row_counts, out=indptr[1:])
    ones = np.ones(len(offsets), dtype=np.uint8)
    sparse.csr_array((ones, offsets, indptr), shape=out.shape).toarray(out=out)


def _draw_counts(rng: np.random.Generator, n: int, out: np.ndarray) -> None:
    """out[b, i] = how often position i is drawn in resample b, multinomial(n; 1/n each) (see the module
    docstring); out[b, n:], the padding to whole buckets, = 0. The stream is consumed a resample at a
    time, in order, so that the result does not depend on the block size."""
    full, rest = divmod(n, BUCKET)
    probabilities = np.full(full + bool(rest), BUCKET / n)
    if rest:
        probabilities[-1] = rest / n
    for first in range(0, len(out), max(1, DRAW_CELLS // n)):
        rows = out[first:first + max(1, DRAW_CELLS // n)]
        if not full:
            # the plain draw: one call for these resamples, the same stream as one call each
            _histogram(rng.integers(0, n, len(rows) * n, dtype=np.int32), np.full(len(rows), n), rows)
            continue
        per_bucket = np.empty((len(rows), len(probabilities)), dtype=np.int64)
        offsets = np.empty((len(rows), n), dtype=np.int32)
        for b, row in enumerate(offsets):
            per_bucket[b] = rng.multinomial(n, probabilities)
            in_full = n - per_bucket[b, -1] if rest else n
            bits = rng.integers(0, 2 ** 64 - 1, -(-in_full // 4), dtype=np.uint64, endpoint=True).view(np.uint16)
            np.bitwise_and(bits[:in_full], BUCKET - 1, out=row[:in_full])
            if rest:
                row[in_full:] = rng.integers(0, rest, n - in_full)
        _histogram(offsets.ravel(), per_bucket.ravel(), rows.reshape(-1, BUCKET))


def _block_sums(counts: np.ndarray, features: np.ndarray, n1: int) -> np.ndarray:
    """sums[b, g] = sum over group g's examples (g = 0: W=1, the first n1 rows of features; g = 1: W=0)
    of counts[b, i] * features[i]."""
    size, n = counts.shape[0], features.shape[0]
    sums = np.zeros((size, 2, features.shape[1]))
    buffer = np.empty(CHUNK_CELLS)
    for top in range(0, size, CHUNK_ROWS):
        rows = counts[top:top + CHUNK_ROWS]
        step = CHUNK_CELLS // len(rows)
        for group, (low, high) in enumerate(((0, n1), (n1, n))):
            for start in range(low, high, step):
                stop = min(high, start + step)
                chunk = buffer[:len(rows) * (stop - start)].reshape(len(rows), stop - start)
                np.copyto(chunk, rows[:, start:stop])
                sums[top:top + len(rows), group] += chunk @ features[start:stop]
    return sums


def _resample_effects(sums: np.ndarray, centres: dict, n: int) -> dict:
    """Every estimator's estimate and SE on each resample, from the block's group sums (_block_sums)."""
    n1, n0 = sums[:, 0, 0], sums[:, 1, 0]
    moments = {}
    for index, (name, (centre1, centre0)) in enumerate(centres.items()):
        s1, q1 = sums[:, 0, 1 + 2 * index], sums[:, 0, 2 + 2 * index]
        s0, q0 = sums[:, 1, 1 + 2 * index], sums[:, 1, 2 + 2 * index]
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
    features, n1, centres = _features(w, np.asarray(y, dtype=float), np.asarray(r, dtype=float),
                                      np.asarray(rr, dtype=float))
    rng = np.random.default_rng(seed)
    width = n if n < BUCKET else -(-n // BUCKET) * BUCKET
    block = max(1, min(resamples, BLOCK_CELLS // width))
    counts = np.empty((block, width), dtype=np.uint8)
    pivots: dict = {key: [] for key in observed["effects"]}
    refused = refusals(w, observed["effects"])
    degenerate = {key: 0 for key in observed["effects"]}
    # a bar only where the wait is noticeable (about a second or more on a laptop)
    quiet = resamples * n < 300_000_000
    with tqdm(total=resamples, desc="bootstrap resamples", unit="resample", leave=False, disable=quiet) as bar:
        for start in range(0, resamples, block):
            size = min(block, resamples - start)
            _draw_counts(rng, n, counts[:size])
            sums = _block_sums(counts[:size, :n], features, n1)
            # a one-byte count wraps past 255 draws of one example: probability about n/256!, never seen,
            # but it must not pass silently
            if np.any(sums[:, :, 0].sum(axis=1) != n):
                raise RuntimeError("a bootstrap count overflowed its byte")
            for key, effect in _resample_effects(sums, centres, n).items():
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
