"""The results of treatment_effects.py for one reward key in one file: every estimator under the
original RATE code's keys, the tidy `estimates` rows, undefined estimands explained, and diagnostics.
The numerics are estimation/stats.py's; the inputs, estimation/inputs.py's.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from estimation import bootstrap as effects_bootstrap
from estimation import inputs as effects_inputs
from estimation import robust
from estimation import sensitivity as effects_sensitivity
from estimation import stats as es
from reporting.render import interval
import utils
from utils.record import COMPLETIONS, ORACLE, ORIGINAL, reward_keys

logger = logging.getLogger(__name__)

ESTIMATORS, ESTIMANDS = es.ESTIMATORS, es.ESTIMANDS
ORIGINAL_NAMES = {"single rewrite": "single_rewrite", "RATE": "rewritten_rewrite"}
ROW_KEYS = ("estimator", "estimand", "estimate", "se", "ci_low", "ci_high", "p", "p_holm", "p_bh", "n1", "n0",
            "norm_estimate", "norm_se", "norm_ci_low", "norm_ci_high", "truth", "norm_truth", "se_iid", "clusters",
            "breakdown_delta", "norm_breakdown_delta")
CI_METHOD = ("Student t: paired (ATT, ATU: n_g - 1 df) and one-sample over all n (ATE: n - 1 df) for the "
             "rewrite estimators; Welch-Satterthwaite for naive. With clustered examples: CR1 cluster-robust SEs, "
             "t with G - 1 df (G: clusters holding an example the estimate averages over). Effect sizes "
             "(norm_*): delta-method SE that includes the uncertainty of reward_std")
ASYMMETRY_MEANING = ("mean_{W=1}[R(rr) - R(y)] - mean_{W=0}[R(rr) - R(y)] estimates Delta - gap: Delta, RATE's bias "
                     "(the off-target reward the rewriter's direction 0->1 leaves minus what 1->0 leaves), minus gap, "
                     "the difference between the W=1 and W=0 originals in the off-target reward the rewriter "
                     "overwrites. It fires without bias (Delta = 0, gap != 0) and stays silent with bias "
                     "(Delta = gap != 0): silence certifies nothing; see the placebo and the sensitivity analysis")
# Beyond this, squares of rewards overflow float64 (1e160 squared is inf) and every variance is wrong.
LARGEST_REWARD = 1e100
# Effect-size intervals assume R(original) has a finite fourth moment; above this sample kurtosis a
# warning says their coverage may fall (docs/effects.md, "Normalised effects (effect sizes)").
KURTOSIS_WARNING = 6.0


def _number(value) -> float | None:
    """A JSON-safe float: NaN and inf, which only arise where a quantity is undefined, become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def undefined_estimands(n1: int, n0: int) -> dict[str, str]:
    """Why each estimand that cannot be estimated is undefined: a mean needs an example and a standard
    error needs two, in every W group the estimand averages over."""

    def lack(group: int, count: int) -> str | None:
        if count == 0:
            return f"no example has W={group}"
        return f"only 1 example has W={group}, and a standard error needs 2" if count == 1 else None

    lack1, lack0 = lack(1, n1), lack(0, n0)
    reasons = {}
    if lack1:
        reasons["ATT"] = f"ATT undefined: {lack1}; ATT averages over the W=1 examples"
    if lack0:
        reasons["ATU"] = f"ATU (ATC) undefined: {lack0}; ATU averages over the W=0 examples"
    if lack1 or lack0:
        both = "; ".join(x for x in (lack1, lack0) if x)
        reasons["ATE"] = f"ATE undefined: {both}; ATE averages over both groups"
        reasons["naive"] = f"naive estimate undefined: {both}; it compares the two groups"
    if lack1 and lack0:
        raise utils.RateError(f"no effect can be estimated: need at least 2 examples in a W group, have n1={n1}, n0={n0}")
    return reasons


def _is_defined(estimator: str, estimand: str, undefined: dict) -> bool:
    return estimand not in undefined and not (estimator == "naive" and "naive" in undefined)


def _interval_record(effect: es.Effect, alpha: float, std: float | None, norm: es.Effect | None = None) -> dict:
    """Estimate, SE, interval and p; and the effect size with its delta-method SE and interval (`norm`)."""
    low, high, p = es.t_interval(effect, alpha)
    record = {"estimate": _number(effect.estimate), "se": _number(effect.se), "ci_low": _number(low),
              "ci_high": _number(high), "p": _number(p)}
    record["norm_estimate"] = record["norm_se"] = record["norm_ci_low"] = record["norm_ci_high"] = None
    if std and norm is not None:
        norm_low, norm_high, _ = es.t_interval(norm, alpha)
        record.update(norm_estimate=_number(norm.estimate), norm_se=_number(norm.se), norm_ci_low=_number(norm_low),
                      norm_ci_high=_number(norm_high))
    elif std:
        record["norm_estimate"], record["norm_se"] = _number(effect.estimate / std), _number(effect.se / std)
    return record


def diagnostics(computed: dict, alpha: float, std: float | None, undefined: dict) -> dict:
    """The rewrite effect per W group and its asymmetry (estimation.stats.rewrite_effects), with intervals;
    a warning is logged when the asymmetry differs from 0 at level alpha."""
    rewrite, out = computed["rewrite"], {"rewrite_effect": {}}
    for group, estimand, n in (("W=1", "ATT", computed["n1"]), ("W=0", "ATU", computed["n0"])):
        if estimand not in undefined:
            out["rewrite_effect"][group] = {**_interval_record(rewrite[group], alpha, std), "n": int(n)}
    if "ATE" in undefined:
        return out
    asymmetry = {**_interval_record(rewrite["asymmetry"], alpha, std), "df": _number(rewrite["asymmetry"].df)}
    asymmetry["significant"] = bool(asymmetry["p"] is not None and asymmetry["p"] < alpha)
    rate_ate = _number(computed["effects"][("RATE", "ATE")].estimate)
    asymmetry["relative_to_rate_ate"] = asymmetry["estimate"] / rate_ate if rate_ate and asymmetry["estimate"] is not None else None
    asymmetry["meaning"] = ASYMMETRY_MEANING
    out["off_target_asymmetry"] = asymmetry
    if asymmetry["significant"]:
        logger.warning("off-target asymmetry: the rewrites moved the reward by %+.4f more in the W=1 group than in "
                       "the W=0 group (%g%% CI [%+.4f, %+.4f], p = %.3g). It estimates the rewriter's asymmetry "
                       "(RATE's bias) minus the difference between the groups' originals in what the rewriter "
                       "overwrites (e.g. typos it fixes), which does not bias RATE; inspect rewrites of both directions, "
                       "the placebo and the sensitivity analysis (diagnostics.off_target_asymmetry)",
                       asymmetry["estimate"], 100 * (1 - alpha), asymmetry["ci_low"], asymmetry["ci_high"],
                       asymmetry["p"])
    return out


def estimate(arrays: dict, alpha: float, bootstrap_resamples: int = 0, seed: int = 0,
             clusters: robust.Clusters | None = None, deltas: list | None = None) -> dict:
    """Every estimator under the original RATE code's keys, plus the tidy `estimates` rows, the RATE SEs
    of the original (unpaired) formula under `*_stderr_unpaired`, `clusters`, `sensitivity` and
    `diagnostics`. Estimands that cannot be estimated are None at the top level, have no row, and are
    explained in diagnostics.undefined (and logged). `clusters`: estimation.robust.Clusters of the
    examples (None: independent); `deltas`: the sensitivity grid (None: automatic)."""
    w = np.asarray(arrays["w"], dtype=bool)
    n1, n0 = int(w.sum()), int((~w).sum())
    undefined = undefined_estimands(n1, n0)
    if undefined:
        logger.warning("%s", " | ".join(undefined.values()))
    rewards = [arrays[k] for k in COMPLETIONS]
    largest = max(float(np.max(np.abs(v))) for v in rewards)
    if largest > LARGEST_REWARD:
        raise utils.RateError(f"rewards as large as {largest:.3g} overflow when squared (above {LARGEST_REWARD:g}): "
                              f"divide the reward by a constant (effect sizes and p-values stay the same)")
    computed = es.compute(w, *rewards, arrays.get(ORACLE), clusters=clusters)
    std = _number(computed["reward_std"])
    if not std:
        logger.warning("reward_std is %s (R(original) does not vary within the W groups): normalised effects "
                       "are undefined", std)
        std = None

    results: dict = {}
    for estimator, prefix in (("naive", "naive_effect"), *((e, None) for e in ORIGINAL_NAMES)):
        for estimand in (("ATE",) if estimator == "naive" else ESTIMANDS):
            key = prefix or f"{estimand}_{ORIGINAL_NAMES[estimator]}"
            effect, ok = computed["effects"][(estimator, estimand)], _is_defined(estimator, estimand, undefined)
            results[key] = _number(effect.estimate) if ok else None
            results[f"{key}_stderr"] = _number(effect.se) if ok else None
    for estimand in ESTIMANDS:
        results[f"{estimand}_rewritten_rewrite_stderr_unpaired"] = (
            None if estimand in undefined else _number(computed["unpaired"][estimand]))
    results["reward_std"] = std
    results["reward_kurtosis"] = _number(kurtosis(arrays[ORIGINAL], w))
    if results["reward_kurtosis"] is not None and results["reward_kurtosis"] > KURTOSIS_WARNING:
        logger.warning("R(original) is heavy-tailed (kurtosis %.1f within the W groups, 3 for a normal): the effect-size "
                       "intervals, which need its fourth moment, may cover less than stated; prefer the raw-unit "
                       "intervals", results["reward_kurtosis"])
    results["Y1_count"], results["Y0_count"] = n1, n0
    results["clusters"] = cluster_summary(computed["clusters"], len(w))
    truth = None
    if computed["truth"] is not None:
        truth = {k: _number(v) for k, v in computed["truth"].items() if k not in undefined}
        results["ground_truth"] = truth
    results["alpha"] = alpha
    results["ci_method"] = CI_METHOD

    boot = None
    if bootstrap_resamples and computed["clusters"] is not None:
        results["bootstrap"] = {"method": effects_bootstrap.METHOD, "resamples": bootstrap_resamples,
                                "refused": "examples are clustered, and resampling single examples would treat them "
                                           "as independent; the CR1 intervals are the ones to use"}
        logger.warning("bootstrap: %s", results["bootstrap"]["refused"])
    elif bootstrap_resamples:
        boot = effects_bootstrap.bootstrap_intervals(w, *rewards, alpha, bootstrap_resamples, seed, observed=computed)
        defined = [(e, k) for e, k in boot["usable"] if _is_defined(e, k, undefined)]
        results["bootstrap"] = {"method": effects_bootstrap.METHOD, "resamples": bootstrap_resamples, "seed": seed,
                                "usable_resamples": {f"{e} {k}": boot["usable"][(e, k)] for e, k in defined},
                                "refused": {f"{e} {k}": boot["refused"][(e, k)] for e, k in defined
                                            if (e, k) in boot["refused"]}}
        for name, reason in results["bootstrap"]["refused"].items():
            logger.warning("bootstrap interval of %s %s", name, reason)
    results["estimates"] = table_rows(computed, alpha, std, truth, undefined, boot)
    results["sensitivity"] = effects_sensitivity.analyse(results["estimates"], std, deltas)
    results["diagnostics"] = {**diagnostics(computed, alpha, std, undefined), "undefined": undefined}
    zero = [f"{r['estimator']} {r['estimand']}" for r in results["estimates"] if r["se"] == 0]
    if zero:
        logger.warning("zero standard error (every difference equal) for %s: intervals have zero width", zero)
        results["diagnostics"]["zero_se"] = zero
    return results


def kurtosis(values: np.ndarray, w: np.ndarray) -> float:
    """Kurtosis of the residuals from each W group's mean (3 for normal data; NaN with fewer than 4)."""
    if len(values) < 4:
        return math.nan
    residual = values - np.where(w, values[w].mean() if w.any() else 0.0, values[~w].mean() if (~w).any() else 0.0)
    second = np.mean(np.square(residual))
    return float(np.mean(np.square(np.square(residual))) / second ** 2) if second > 0 else math.nan


def cluster_summary(counts: dict | None, n: int) -> dict:
    if counts is None:
        return {"clustered": False, "clusters": n, "meaning": "every example its own cluster: iid SEs"}
    return {"clustered": True, "clusters": int(counts["clusters"]), "with_W=1": int(counts["W=1"]),
            "with_W=0": int(counts["W=0"]), "largest": int(counts["largest"]),
            "meaning": "CR1 cluster-robust SEs, t with G - 1 df; se_iid in each row assumes independent examples"}


def table_rows(computed: dict, alpha: float, std: float | None, truth: dict | None, undefined: dict,
               boot: dict | None = None) -> list[dict]:
    """One row per defined estimator x estimand, keys in ROW_KEYS order (plus boot_ci_low/high when a
    bootstrap ran). Naive repeats its one group-mean difference for ATE, ATT and ATU. p_holm and p_bh
    are set across the run's family by treatment_effects.py; the breakdown Delta by sensitivity."""
    rows = []
    clusters = computed["clusters"]
    for estimator in ESTIMATORS:
        for estimand in ESTIMANDS:
            if not _is_defined(estimator, estimand, undefined):
                continue
            key = (estimator, estimand)
            record = _interval_record(computed["effects"][key], alpha, std, computed["norm"][key])
            value = None if truth is None else truth.get(estimand)
            groups = {"ATT": "W=1", "ATU": "W=0"}.get(estimand) if estimator != "naive" else None
            row = {"estimator": estimator, "estimand": estimand, **record, "p_holm": None, "p_bh": None,
                   "n1": int(computed["n1"]), "n0": int(computed["n0"]),
                   "truth": value, "norm_truth": value / std if std and value is not None else None,
                   "se_iid": _number(computed["iid_se"][key]),
                   "clusters": None if clusters is None else int(clusters[groups] if groups else clusters["clusters"]),
                   "breakdown_delta": None, "norm_breakdown_delta": None}
            row = {name: row[name] for name in ROW_KEYS}
            if boot is not None:
                low, high = boot["intervals"].get(key, (None, None))
                row["boot_ci_low"], row["boot_ci_high"] = low, high
            rows.append(row)
    return rows


PLACEBO_MEANING = ("RATE on a reward that ignores W. Its true effect is 0, so its estimate is the rewriter's "
                   "off-target asymmetry (RATE's bias) as this reward measures it: an interval excluding 0 shows that "
                   "the rewriter's two directions change W-blind features differently, and other rewards' RATE "
                   "estimates may carry such a bias too; an interval holding 0 shows no asymmetry this reward can see")


def placebo_summary(results: dict, reward_key: str) -> dict:
    """The placebo reward's RATE ATE, and whether its interval holds 0."""
    row = next((r for r in results["estimates"] if (r["estimator"], r["estimand"]) == ("RATE", "ATE")), None)
    if row is None:
        return {"reward_key": reward_key, "consistent_with_zero": True, "line": f"placebo '{reward_key}': undefined",
                "meaning": PLACEBO_MEANING}
    holds = row["ci_low"] <= 0 <= row["ci_high"]
    level = f"{100 * (1 - results['alpha']):g}%"
    line = (f"placebo '{reward_key}' (a reward that ignores W): RATE ATE {row['estimate']:+.4f}, {level} CI "
            f"{interval(row['ci_low'], row['ci_high'], nan='+nan')}" + (
                ", consistent with 0: no off-target asymmetry this reward can see" if holds else
                ", not 0: the rewriter's two directions change W-blind features differently; RATE's other "
                "estimates may be biased by such an asymmetry (see the sensitivity analysis)"))
    return {"reward_key": reward_key, **{k: row[k] for k in ("estimate", "se", "ci_low", "ci_high", "p",
                                                             "norm_estimate", "norm_ci_low", "norm_ci_high")},
            "consistent_with_zero": holds, "line": line, "meaning": PLACEBO_MEANING}


# Below this many clusters CR1 is known to be too small even with G - 1 df (Cameron and Miller 2015).
FEW_CLUSTERS = 30


def analyse(records: list[dict], reward_key: str, section: dict, source) -> tuple[dict, dict, dict]:
    """Effects of one reward key in one file: the results dict, the dropped counts, and the arrays
    (with `clusters`) it was estimated from."""
    keys = reward_keys(section)
    columns = effects_inputs.as_columns(records, keys)
    effects_inputs.check_completion_keys(columns, reward_key, keys, source)
    if columns.n and not columns.rewards(reward_key, ORACLE)[1].any():
        keys[ORACLE] = ORACLE
    arrays, dropped, by_group = effects_inputs.reward_arrays(columns, reward_key, keys, section["passed_judge_only"],
                                                            section["duplicate_ids"], source)
    if dropped:
        logger.warning("%s, reward '%s': dropped %d of %d examples: %s", source, reward_key, sum(dropped.values()),
                       len(records), by_group)
    if len(arrays["w"]) == 0:
        raise utils.RateError(f"{source}: no usable example for reward '{reward_key}' ({dict(dropped) or 'no records'})")
    logger.info("%s, reward '%s': %d of %d examples usable", source, reward_key, len(arrays["w"]), len(records))
    labels, how = effects_inputs.cluster_labels(arrays, section["cluster_key"], source)
    clusters = robust.from_labels(labels) if labels is not None else None
    arrays["clusters"] = clusters if clusters is not None and not clusters.trivial else None
    arrays["labels"] = labels if arrays["clusters"] is not None else None
    results = estimate(arrays, section["alpha"], section["bootstrap_resamples"], section["bootstrap_seed"],
                       clusters=arrays["clusters"], deltas=section["sensitivity_deltas"])
    results["clusters"].update(how)
    if results["clusters"]["clustered"]:
        logger.info("%s: %d examples in %d clusters (largest %d; %s): cluster-robust SEs", source, len(arrays["w"]),
                    results["clusters"]["clusters"], results["clusters"]["largest"], how["rule"])
        if results["clusters"]["clusters"] < FEW_CLUSTERS:
            logger.warning("%s: only %d clusters; cluster-robust intervals are too narrow with fewer than about %d",
                           source, results["clusters"]["clusters"], FEW_CLUSTERS)
    results["dropped_by_group"] = by_group
    return results, dict(dropped), arrays
