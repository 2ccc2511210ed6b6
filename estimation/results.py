"""The results of treatment_effects.py for one reward key in one file: every estimator under the
original RATE code's keys, the tidy `estimates` rows, undefined estimands explained, and diagnostics.
The numerics are estimation/stats.py's; the inputs, estimation/inputs.py's.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from estimation import bootstrap as effects_bootstrap
from estimation import gate as effects_gate
from estimation import inputs as effects_inputs
from estimation import stats as es
import utils

logger = logging.getLogger(__name__)

ORACLE = effects_inputs.ORACLE
ESTIMATORS, ESTIMANDS = es.ESTIMATORS, es.ESTIMANDS
ORIGINAL_NAMES = {"single rewrite": "single_rewrite", "RATE": "rewritten_rewrite"}
ROW_KEYS = ("estimator", "estimand", "estimate", "se", "ci_low", "ci_high", "p", "n1", "n0", "norm_estimate",
            "norm_se", "norm_ci_low", "norm_ci_high", "truth", "norm_truth")
CI_METHOD = ("Student t: paired (ATT, ATU: n_g - 1 df) and one-sample over all n (ATE: n - 1 df) for the "
             "rewrite estimators; Welch-Satterthwaite for naive")
ASYMMETRY_MEANING = ("mean_{W=1}[R(rr) - R(y)] - mean_{W=0}[R(rr) - R(y)]. Equals RATE's bias (the difference "
                     "in off-target reward between the rewriter's two directions) when the off-target attributes "
                     "the rewriter overwrites have the same mean reward in both groups' originals; otherwise it "
                     "also carries that difference, which does not bias RATE")


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


def _interval_record(effect: es.Effect, alpha: float, std: float | None) -> dict:
    low, high, p = es.t_interval(effect, alpha)
    record = {"estimate": _number(effect.estimate), "se": _number(effect.se), "ci_low": _number(low),
              "ci_high": _number(high), "p": _number(p)}
    record["norm_estimate"] = _number(effect.estimate / std) if std else None
    record["norm_se"] = _number(effect.se / std) if std else None
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
    asymmetry["meaning"] = ASYMMETRY_MEANING
    out["off_target_asymmetry"] = asymmetry
    if asymmetry["significant"]:
        logger.warning("off-target asymmetry: the rewrites moved the reward by %+.4f more in the W=1 group than in "
                       "the W=0 group (%g%% CI [%+.4f, %+.4f], p = %.3g). Either the rewriter's off-target changes "
                       "differ between its two directions, which biases RATE by about this much, or the off-target "
                       "attributes it overwrites (e.g. typos it fixes) differ between the groups' originals, which "
                       "does not; inspect rewrites of both directions (diagnostics.off_target_asymmetry)",
                       asymmetry["estimate"], 100 * (1 - alpha), asymmetry["ci_low"], asymmetry["ci_high"],
                       asymmetry["p"])
    return out


def estimate(arrays: dict, alpha: float, bootstrap_resamples: int = 0, seed: int = 0) -> dict:
    """Every estimator under the original RATE code's keys, plus the tidy `estimates` rows, the RATE SEs
    of the original (unpaired) formula under `*_stderr_unpaired`, and `diagnostics`. Estimands that
    cannot be estimated are None at the top level, have no row, and are explained in
    diagnostics.undefined (and logged)."""
    w = np.asarray(arrays["w"], dtype=bool)
    n1, n0 = int(w.sum()), int((~w).sum())
    undefined = undefined_estimands(n1, n0)
    if undefined:
        logger.warning("%s", " | ".join(undefined.values()))
    computed = es.compute(w, arrays["original"], arrays["rewrite"], arrays["rewritten rewrite"], arrays.get(ORACLE))
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
    results["Y1_count"], results["Y0_count"] = n1, n0
    truth = None
    if computed["truth"] is not None:
        truth = {k: _number(v) for k, v in computed["truth"].items() if k not in undefined}
        results["ground_truth"] = truth
    results["alpha"] = alpha
    results["ci_method"] = CI_METHOD

    boot = None
    if bootstrap_resamples:
        boot = effects_bootstrap.bootstrap_intervals(w, arrays["original"], arrays["rewrite"],
                                                     arrays["rewritten rewrite"], alpha, bootstrap_resamples,
                                                     seed, observed=computed)
        results["bootstrap"] = {"method": effects_bootstrap.METHOD, "resamples": bootstrap_resamples, "seed": seed,
                                "usable_resamples": {f"{e} {k}": boot["usable"][(e, k)] for e, k in boot["usable"]
                                                     if _is_defined(e, k, undefined)}}
    results["estimates"] = table_rows(computed, alpha, std, truth, undefined, boot)
    results["diagnostics"] = {**diagnostics(computed, alpha, std, undefined), "undefined": undefined}
    zero = [f"{r['estimator']} {r['estimand']}" for r in results["estimates"] if r["se"] == 0]
    if zero:
        logger.warning("zero standard error (every difference equal) for %s: intervals have zero width", zero)
        results["diagnostics"]["zero_se"] = zero
    return results


def table_rows(computed: dict, alpha: float, std: float | None, truth: dict | None, undefined: dict,
               boot: dict | None = None) -> list[dict]:
    """One row per defined estimator x estimand, keys in ROW_KEYS order (plus boot_ci_low/high when a
    bootstrap ran). Naive repeats its one group-mean difference for ATE, ATT and ATU."""
    rows = []
    for estimator in ESTIMATORS:
        for estimand in ESTIMANDS:
            if not _is_defined(estimator, estimand, undefined):
                continue
            record = _interval_record(computed["effects"][(estimator, estimand)], alpha, std)
            value = None if truth is None else truth.get(estimand)
            row = {"estimator": estimator, "estimand": estimand, **record,
                   "n1": int(computed["n1"]), "n0": int(computed["n0"]),
                   "norm_ci_low": record["ci_low"] / std if std and record["ci_low"] is not None else None,
                   "norm_ci_high": record["ci_high"] / std if std and record["ci_high"] is not None else None,
                   "truth": value, "norm_truth": value / std if std and value is not None else None}
            row = {key: row[key] for key in ROW_KEYS}
            if boot is not None:
                low, high = boot["intervals"].get((estimator, estimand), (None, None))
                row["boot_ci_low"], row["boot_ci_high"] = low, high
            rows.append(row)
    return rows


def analyse(records: list[dict], reward_key: str, section: dict, source) -> tuple[dict, dict]:
    """Effects of one reward key in one file: the results dict and the dropped counts."""
    keys = {"original": section["w_original_key"], "rewrite": section["w_counterfactual_key"],
            "rewritten rewrite": section["w_rewritten_rewrite_key"]}
    effects_inputs.check_completion_keys(records, reward_key, keys, source)
    if records and all(ORACLE in (r.get(reward_key) or {}) for r in records):
        keys[ORACLE] = ORACLE
    keep = effects_gate.keep if section["passed_judge_only"] else None
    arrays, dropped = effects_inputs.reward_arrays(records, reward_key, keys, keep)
    if dropped:
        logger.warning("%s, reward '%s': dropped %d of %d examples: %s", source, reward_key, sum(dropped.values()),
                       len(records), dict(dropped))
    if len(arrays["w"]) == 0:
        raise utils.RateError(f"{source}: no usable example for reward '{reward_key}' ({dict(dropped) or 'no records'})")
    logger.info("%s, reward '%s': %d of %d examples usable", source, reward_key, len(arrays["w"]), len(records))
    results = estimate(arrays, section["alpha"], section["bootstrap_resamples"], section["bootstrap_seed"])
    return results, dict(dropped)
