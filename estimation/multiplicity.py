"""Multiplicity and pooling for families of effect estimates. Pure numpy/scipy: no I/O, no logging, no config.

A run reports many p-values at once (estimands x estimators x reward keys x files), so some will fall
below 0.05 by chance alone: with 45 true nulls, 1 - 0.95^45 = 90% of runs show at least one. `holm` and
`benjamini_hochberg` adjust a family's p-values so that a threshold on the adjusted values controls an
error rate of the whole family rather than of each test. `pool_inverse_variance` combines one estimand's
estimates from several independent files (data sets) into one, with the heterogeneity statistics that
say whether pooling means a common effect.

Undefined rows (None: no SE, too few examples) are not tests; they are left out of the family, so they
neither count towards m nor receive an adjusted value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def _family(p: Sequence[float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Positions and values of the defined p-values; a value outside [0, 1] is a caller's bug, not a test."""
    index = np.array([i for i, v in enumerate(p) if v is not None], dtype=int)
    values = np.array([float(p[i]) for i in index], dtype=float)
    if values.size and not np.all((values >= 0.0) & (values <= 1.0)):
        raise ValueError(f"p-values must lie in [0, 1] (or be None); got {values[~((values >= 0) & (values <= 1))].tolist()}")
    return index, values


def _scatter(length: int, index: np.ndarray, adjusted: np.ndarray) -> list[float | None]:
    """Adjusted values back in the caller's order, None where the input was None."""
    out: list[float | None] = [None] * length
    for i, value in zip(index.tolist(), adjusted.tolist()):
        out[i] = value
    return out


def holm(p: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values: with p_(1) <= ... <= p_(m) the sorted defined p-values,
    adjusted p_(i) = max_{j<=i} min(1, (m-j+1) p_(j)).

    Rejecting every adjusted p <= alpha controls the family-wise error rate (the chance of any false
    rejection) at alpha under any dependence between the tests: the proof uses only Bonferroni's
    inequality on the true nulls, never independence. It is uniformly more powerful than Bonferroni.
    The running maximum keeps the adjusted values in the order of the raw ones; tied raw p-values get
    the same adjusted value. A family of one is returned unchanged."""
    index, values = _family(p)
    m = values.size
    order = np.argsort(values, kind="stable")
    steps = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(steps) if m else steps
    return _scatter(len(p), index, adjusted)


def benjamini_hochberg(p: Sequence[float | None]) -> list[float | None]:
    """Benjamini-Hochberg step-up adjusted p-values (q-values): adjusted p_(i) = min_{j>=i} min(1, m p_(j) / j).

    Rejecting every adjusted p <= alpha controls the false discovery rate (the expected share of false
    rejections among the rejections) at alpha * m0/m <= alpha when the tests are independent or
    positively regression dependent (PRDS; Benjamini & Yekutieli 2001). Estimates computed on the same
    examples are positively correlated, which is the PRDS case, so BH is valid here. Under the global
    null FDR equals the family-wise error rate; otherwise BH rejects more than Holm and promises less.
    The running minimum from the largest p downwards makes it step-up; ties get the same value."""
    index, values = _family(p)
    m = values.size
    order = np.argsort(values, kind="stable")
    # The cap never binds after the running minimum (the last step is p_(m) <= 1); it mirrors the formula.
    steps = np.minimum(1.0, m * values[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(steps[::-1])[::-1] if m else steps
    return _scatter(len(p), index, adjusted)


def _normal_summary(estimate: float, se: float, alpha: float) -> dict:
    """Estimate, SE, normal (1 - alpha) interval and two-sided normal p-value against 0."""
    # scipy.special's ufuncs rather than scipy.stats: the same functions, without the per-call overhead
    # that dominates when a Monte Carlo pools thousands of families.
    from scipy import special  # here, not at the top: scripts' --help must not wait for scipy

    z = float(special.ndtri(1.0 - alpha / 2.0))
    return {"estimate": estimate, "se": se, "ci_low": estimate - z * se, "ci_high": estimate + z * se,
            "p": float(2.0 * special.ndtr(-abs(estimate) / se))}


def pool_inverse_variance(estimates: Sequence[float], ses: Sequence[float], alpha: float = 0.05) -> dict:
    """Pool k >= 2 independent estimates of one quantity, weighting each by w_i = 1 / se_i^2.

    Fixed effect (the top-level keys): pooled = sum w x / sum w with SE 1 / sqrt(sum w), the
    minimum-variance unbiased combination if every file estimates the same effect; normal interval
    (pooled +- z_{1-alpha/2} SE) and two-sided normal p, since each se is treated as known.
    Heterogeneity: Cochran's Q = sum w (x - pooled)^2, chi-square with k-1 df when the effect is common
    (q_p small: it is not); Higgins' I^2 = max(0, (Q - (k-1)) / Q), the share of the spread beyond chance.
    "random_effects": DerSimonian-Laird, which lets each file have its own effect drawn around a mean
    with between-file variance tau2 = max(0, (Q - (k-1)) / (sum w - sum w^2 / sum w)), then re-weights
    by 1 / (se^2 + tau2). Read it when I^2 is large: the files then do not share one effect, the
    fixed-effect number is a precision-weighted average of different effects and its interval is too
    narrow for the mean effect. With few files DL's normal interval is itself somewhat too narrow,
    because tau2 is estimated. When tau2 = 0 both versions coincide.

    Raises ValueError if k < 2, lengths differ, or an estimate or se is None, non-finite, or se <= 0."""
    if len(estimates) != len(ses):
        raise ValueError(f"pool_inverse_variance: {len(estimates)} estimates but {len(ses)} standard errors")
    if len(estimates) < 2:
        raise ValueError(f"pool_inverse_variance: need at least 2 estimates to pool, got {len(estimates)}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"pool_inverse_variance: alpha must lie in (0, 1), got {alpha}")
    for i, (x, s) in enumerate(zip(estimates, ses)):
        if x is None or s is None or not math.isfinite(x) or not math.isfinite(s) or s <= 0:
            raise ValueError(f"pool_inverse_variance: estimate {i} is undefined (estimate={x}, se={s}); "
                             "every pooled estimate needs a finite estimate and a positive finite se")
    x = np.asarray(estimates, dtype=float)
    w = 1.0 / np.asarray(ses, dtype=float) ** 2
    k = x.size
    pooled = float(np.sum(w * x) / np.sum(w))
    q = float(np.sum(w * (x - pooled) ** 2))
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    from scipy import special

    result = _normal_summary(pooled, float(1.0 / math.sqrt(np.sum(w))), alpha)
    result.update({"k": k, "q": q, "q_df": k - 1, "q_p": float(special.chdtrc(k - 1, q)), "i2": i2})

    tau2 = max(0.0, (q - (k - 1)) / float(np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    w_re = 1.0 / (1.0 / w + tau2)
    random = _normal_summary(float(np.sum(w_re * x) / np.sum(w_re)), float(1.0 / math.sqrt(np.sum(w_re))), alpha)
    result["random_effects"] = {"tau2": tau2, **random}
    return result
