"""The numerics behind treatment_effects.py: point estimates, standard errors, t intervals, p-values
and the off-target diagnostics of RATE. Pure numpy/scipy: no I/O, no logging, no config.

Every function works along the *last* axis, which runs over examples; any leading axes are carried
through. The pipeline passes 1-D arrays (one data set); the Monte Carlo tests pass (replicates, n)
arrays and evaluate thousands of simulated data sets in one call of the very same code.

Notation (per example): w = W of the original (bool); y = R(original); r = R(rewrite) = R(Re(y, 1-w));
rr = R(rewritten rewrite) = R(Re(Re(y, 1-w), w)); oracle = R(y with only W flipped), simulated data only.

An *oriented difference* d is do(W=1) - do(W=0) for one example, built from the reward of a text whose
W equals the original's (`same`) and of one whose W is flipped (`flipped`):
d = same - flipped where w = 1 and flipped - same where w = 0.
  single rewrite: same = y,  flipped = r      RATE:  same = rr, flipped = r      truth: same = y, flipped = oracle
ATT is the mean of d over w = 1, ATU over w = 0, and ATE over all n, which is (n1*ATT + n0*ATU)/n.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimation import robust

ESTIMANDS = ("ATE", "ATT", "ATU")
ESTIMATORS = ("naive", "single rewrite", "RATE")


@dataclass(frozen=True)
class Effect:
    """An estimate, its standard error and the degrees of freedom of its Student-t reference.
    Fields are floats for one data set, arrays for a batch of replicates."""

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray


@dataclass(frozen=True)
class GroupMoments:
    """Count, mean and sample variance (ddof=1) of one series within W=1 and within W=0. A mean
    over no examples is NaN, a variance over fewer than 2 is NaN; callers check the counts first."""

    n1: np.ndarray
    n0: np.ndarray
    mean1: np.ndarray
    mean0: np.ndarray
    var1: np.ndarray
    var0: np.ndarray


def group_moments(values: np.ndarray, w: np.ndarray) -> GroupMoments:
    # Masked sums instead of boolean indexing, so that a leading replicate axis needs no Python loop.
    # Two passes (mean, then squared deviations) keep the variance accurate for rewards far from 0.
    treated = w.astype(values.dtype)
    untreated = 1.0 - treated
    n1 = treated.sum(axis=-1)
    n0 = values.shape[-1] - n1
    # Each group's sums from its own examples: a total minus the other group's part would lose the
    # smaller group's digits to one huge reward in the other (1e9 in W=1 moved W=0's variance by 9 %).
    total1 = (values * treated).sum(axis=-1)
    total0 = (values * untreated).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean1, mean0 = total1 / n1, total0 / n0
        # each example's own group mean; an empty group's NaN mean must not reach the other group, and a
        # multiply-add does that without np.where's extra passes over the rows
        centre1, centre0 = np.nan_to_num(mean1)[..., None], np.nan_to_num(mean0)[..., None]
        squares = np.square(values - (centre0 + (centre1 - centre0) * treated))
        ss1 = (squares * treated).sum(axis=-1)
        ss0 = (squares * untreated).sum(axis=-1)
        var1 = np.where(n1 > 1, ss1 / (n1 - 1), np.nan)
        var0 = np.where(n0 > 1, ss0 / (n0 - 1), np.nan)
    return GroupMoments(n1, n0, mean1, mean0, var1, var0)


def oriented(w: np.ndarray, same: np.ndarray, flipped: np.ndarray) -> np.ndarray:
    """Per-example do(1) - do(0) (see the module docstring)."""
    sign = 2.0 * w - 1.0  # +1 where w = 1, -1 where w = 0
    return (same - flipped) * sign


def paired_effects(d: np.ndarray, w: np.ndarray) -> dict[str, Effect]:
    """ATT, ATU and ATE of the oriented differences `d`, with paired standard errors.

    ATT and ATU: the mean of d within the group, SE = sd(d in the group)/sqrt(n_g), t with n_g - 1 df.
    Pairing is the point: the two rewards of an example share its content, so their difference has far
    less variance than either reward; treating them as independent samples (the original code's RATE
    SE) overstates the SE.

    ATE = (n1*ATT + n0*ATU)/n is exactly the plain mean of d over all n examples, so its SE comes from
    the per-example contributions psi_i = d_i - ATE: SE = sqrt(sum psi_i^2 / (n (n - 1))) = sd(d)/sqrt(n),
    t with n - 1 df. This stays valid although n1 is itself random: if examples are drawn iid, the d_i
    are iid and the ATE estimate is their sample mean, whatever the split. By the law of total variance,
    Var(d) = E[Var(d | W)] + Var(E[d | W]); the second term is the sampling variability of the weights
    n1/n and n0/n, which sd(d) includes. The formula that holds n1 fixed,
    sqrt((n1/n)^2 var1/n1 + (n0/n)^2 var0/n0), drops that term and undercovers the population ATE
    whenever ATT and ATU differ (tests/test_effects_montecarlo.py shows both).
    """
    moments = group_moments(d, w)
    n = d.shape[-1]
    ate = d.mean(axis=-1)
    # sum of squared contributions; computed from the centred values, not from sums of squares
    contributions = d - ate[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        ate_se = np.sqrt(np.square(contributions).sum(axis=-1) / (n * (n - 1)))
        att_se = np.sqrt(moments.var1 / moments.n1)
        atu_se = np.sqrt(moments.var0 / moments.n0)
    return {
        "ATE": Effect(ate, ate_se, np.full_like(ate, n - 1.0)),
        "ATT": Effect(moments.mean1, att_se, moments.n1 - 1),
        "ATU": Effect(moments.mean0, atu_se, moments.n0 - 1),
    }


def welch(moments: GroupMoments) -> Effect:
    """mean1 - mean0 of two independent groups with the Welch SE sqrt(var1/n1 + var0/n0) and the
    Welch-Satterthwaite degrees of freedom. Unequal variances are the rule here (W changes the reward
    distribution), so the pooled-variance t test is not used."""
    with np.errstate(invalid="ignore", divide="ignore"):
        part1, part0 = moments.var1 / moments.n1, moments.var0 / moments.n0
        se = np.sqrt(part1 + part0)
        df = np.square(part1 + part0) / (np.square(part1) / (moments.n1 - 1) + np.square(part0) / (moments.n0 - 1))
    # With both variances 0 the df is 0/0; any df gives the same zero-width interval then.
    df = np.where(np.isfinite(df), df, moments.n1 + moments.n0 - 2.0)
    return Effect(moments.mean1 - moments.mean0, se, df)


def naive_effects(original: GroupMoments) -> dict[str, Effect]:
    """The confounded comparison mean R(y | W=1) - mean R(y | W=0), from the moments of R(original); the
    same number for every estimand: without counterfactuals nothing tells ATT, ATU and ATE apart."""
    effect = welch(original)
    return {estimand: effect for estimand in ESTIMANDS}


def pooled_sd(m: GroupMoments) -> np.ndarray:
    """The pooled within-group sd of R(original) (pass its moments), sqrt(((n1-1) s1^2 + (n0-1) s0^2)/(n-2)),
    the original code's `reward_std`. A group with fewer than 2 examples adds nothing to the sum of
    squares or to the degrees of freedom, so with one W only this is that group's sd."""
    ss = np.where(m.n1 > 1, (m.n1 - 1) * np.nan_to_num(m.var1), 0.0) + \
        np.where(m.n0 > 1, (m.n0 - 1) * np.nan_to_num(m.var0), 0.0)
    dof = np.maximum(m.n1 - 1, 0) + np.maximum(m.n0 - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(dof > 0, np.sqrt(ss / np.maximum(dof, 1)), np.nan)


def unpaired_rate_ses(w: np.ndarray, r: np.ndarray, rr: np.ndarray) -> dict[str, np.ndarray]:
    """RATE's SEs as the original code computed them, for comparison only: do(1) and do(0) rewards
    taken as two independent samples, sqrt(var(do1)/m + var(do0)/m) with m the examples averaged
    (n1 for ATT, n0 for ATU, n for ATE). They ignore that both rewards come from one example, so
    they are too large whenever the two rewards are positively correlated."""
    do1, do0 = np.where(w, rr, r), np.where(w, r, rr)
    high, low = group_moments(do1, w), group_moments(do0, w)
    n = w.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "ATE": np.sqrt(do1.var(axis=-1, ddof=1) / n + do0.var(axis=-1, ddof=1) / n),
            "ATT": np.sqrt(high.var1 / high.n1 + low.var1 / low.n1),
            "ATU": np.sqrt(high.var0 / high.n0 + low.var0 / low.n0),
        }


def rewrite_effects(w: np.ndarray, y: np.ndarray, rr: np.ndarray) -> dict[str, Effect]:
    """The rewrite effect e_g = mean over group g of R(rewritten rewrite) - R(original) (paired SE,
    t with n_g - 1 df) and the off-target asymmetry e1 - e0 (Welch).

    Why the asymmetry is the quantity to watch: in an additive reward R = tau*W + f(content) + g(style),
    where the rewriter keeps the content and leaves the style it writes in, Re(., 1) leaves style s01
    and Re(., 0) leaves s10. For a treated example the rewrite went 1->0 and the rewritten rewrite 0->1,
    for an untreated one the reverse, so both of RATE's per-example differences carry
    E g(s01) - E g(s10) =: Delta besides tau. RATE is unbiased iff Delta = 0 (the paper's symmetry
    assumption). Its rewrite effects are e1 = E g(s01) - E[g(style) | W=1] and
    e0 = E g(s10) - E[g(style) | W=0], so e1 - e0 = Delta exactly when the originals of both groups
    have the same mean style reward; otherwise it also carries that difference, hence a significant
    asymmetry is a warning to inspect the rewrites, not a correction to subtract. Note also
    e1 = ATT_RATE - ATT_single and e0 = ATU_single - ATU_RATE: they are what the second rewrite changed.
    """
    moments = group_moments(rr - y, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        treated = Effect(moments.mean1, np.sqrt(moments.var1 / moments.n1), moments.n1 - 1)
        untreated = Effect(moments.mean0, np.sqrt(moments.var0 / moments.n0), moments.n0 - 1)
    return {"W=1": treated, "W=0": untreated, "asymmetry": welch(moments)}


def t_interval(effect: Effect, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(1 - alpha) two-sided interval estimate -/+ t_{1-alpha/2, df} * se and the two-sided p-value of
    H0: effect = 0, P(|T_df| >= |estimate/se|).

    Student t rather than normal: every estimate here is a mean (or a difference of two means) of iid
    values with an estimated variance, for which t is the exact reference under normality and the
    usual small-sample calibration otherwise; with the thousands of examples of a real run it equals
    the normal interval to three decimals, while in a 30-example smoke run the normal interval would be
    too narrow. A zero SE (all differences equal) gives a zero-width interval and p = 0, or p = 1 when
    the estimate is 0 as well, instead of 0/0."""
    from scipy import special  # here, not at the top: importing scipy takes a second, and --help needs none

    quantile = special.stdtrit(effect.df, 1 - alpha / 2)
    low = effect.estimate - quantile * effect.se
    high = effect.estimate + quantile * effect.se
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = np.abs(effect.estimate) / effect.se
    p = 2 * special.stdtr(effect.df, -statistic)
    p = np.where(effect.se == 0, np.where(effect.estimate == 0, 1.0, 0.0), p)
    return low, high, p


def influence(w: np.ndarray, name: str, estimand: str, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """One example's contribution psi to one estimator (estimation/robust.py), and the W group it
    averages over (None: all examples). `values`: R(original) for naive, else the oriented differences."""
    if name == "naive":
        return robust.mean_influence(values, w)[1] - robust.mean_influence(values, ~w)[1], None
    mask = {"ATE": None, "ATT": w, "ATU": ~w}[estimand]
    return robust.mean_influence(values, np.ones_like(w) if mask is None else mask)[1], mask


def influences(w: np.ndarray, series: dict[str, np.ndarray]) -> dict:
    """`influence` of every estimator of `series` (name -> its values) and every estimand."""
    out = {}
    for name, values in series.items():
        # naive's influence is one difference of group means, the same for its three estimands
        naive = influence(w, name, "ATE", values) if name == "naive" else None
        for estimand in ESTIMANDS:
            out[name, estimand] = naive if naive is not None else influence(w, name, estimand, values)
    return out


def clustered(effect: Effect, psi: np.ndarray, mask, clusters: robust.Clusters) -> Effect:
    """`effect` with its CR1 SE and G - 1 degrees of freedom (estimation/robust.py)."""
    variance, count = robust.cr1(psi, clusters, mask)
    return Effect(effect.estimate, np.sqrt(variance), count - 1.0)


def compute(w: np.ndarray, y: np.ndarray, r: np.ndarray, rr: np.ndarray, oracle: np.ndarray | None = None,
            clusters: robust.Clusters | None = None) -> dict:
    """Every estimator, estimand and diagnostic at once. Returns
    {"effects": {(estimator, estimand): Effect}, "iid_se": {key: se},
     "norm": {key: Effect of the effect size}, "clusters": counts or None,
     "unpaired": {estimand: se}, "rewrite": {...}, "reward_std": sd,
     "n1": .., "n0": .., "truth": {estimand: value} or None}.

    With `clusters` of which any holds more than one example, every SE (the rewrite diagnostics' too)
    is CR1 with G - 1 df; the iid SE stays in "iid_se". Without, or with singletons only, the SEs are
    the iid ones below, exactly."""
    w = np.asarray(w, dtype=bool)
    n = w.shape[-1]
    clusters = clusters if clusters is not None else robust.singletons(n)
    original = group_moments(y, w)
    series = {"naive": y, "single rewrite": oriented(w, y, r), "RATE": oriented(w, rr, r)}
    effects = {("naive", k): v for k, v in naive_effects(original).items()}
    effects.update({("single rewrite", k): v for k, v in paired_effects(series["single rewrite"], w).items()})
    effects.update({("RATE", k): v for k, v in paired_effects(series["RATE"], w).items()})
    iid_se = {key: effect.se for key, effect in effects.items()}
    rewrite = rewrite_effects(w, y, rr)
    counts = None
    if not clusters.trivial:
        change = rr - y
        rewrite = {"W=1": clustered(rewrite["W=1"], *influence(w, "paired", "ATT", change), clusters),
                   "W=0": clustered(rewrite["W=0"], *influence(w, "paired", "ATU", change), clusters),
                   "asymmetry": clustered(rewrite["asymmetry"], *influence(w, "naive", "ATE", change), clusters)}
        del change
        counts = {"clusters": clusters.count, "W=1": robust.present(w, clusters), "W=0": robust.present(~w, clusters),
                  "largest": clusters.largest()}
    std = pooled_sd(original)
    _, psi_sd = robust.sd_influence(y, w)
    norm = {}
    # each estimator's influence made when it is used and let go: held all at once, the nine of them
    # were most of phase 3's peak memory at a million examples
    naive = influence(w, "naive", "ATE", y)  # one influence for naive's three estimands
    for key in list(effects):
        psi, mask = naive if key[0] == "naive" else influence(w, *key, series[key[0]])
        if not clusters.trivial:
            effects[key] = clustered(effects[key], psi, mask, clusters)
        effect = effects[key]
        with np.errstate(invalid="ignore", divide="ignore"):
            theta = effect.estimate / std
        norm[key] = Effect(theta, robust.effect_size_se(effect.se, theta, std, psi, psi_sd, clusters), effect.df)
        del psi
    del naive
    truth = None
    if oracle is not None:
        truth = {k: v.estimate for k, v in paired_effects(oriented(w, y, oracle), w).items()}
    n1 = w.sum(axis=-1)
    return {"effects": effects, "iid_se": iid_se, "norm": norm, "clusters": counts,
            "unpaired": unpaired_rate_ses(w, r, rr), "rewrite": rewrite,
            "reward_std": std, "n1": n1, "n0": n - n1, "truth": truth}
