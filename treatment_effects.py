"""Phase 3 of RATE: estimate the effect of the attribute W on the reward, three ways, with standard
errors, Student-t confidence intervals, p-values, normalised effects and off-target diagnostics.

  naive           mean R(y | W=1) - mean R(y | W=0)                       (confounded; Welch SE)
  single rewrite  ATT = mean_{W=1} R(y) - R(Re(y,0)),  ATU = mean_{W=0} R(Re(y,1)) - R(y)
  RATE            ATT = mean_{W=1} R(Re(Re(y,0),1)) - R(Re(y,0)),
                  ATU = mean_{W=0} R(Re(y,1)) - R(Re(Re(y,1),0))
  and for both rewrite estimators ATE = (n1*ATT + n0*ATU) / n, with paired SEs (estimation/stats.py).

Before estimating, the attribute judge's verdicts (record["judge"], from create_dataset.py) give the
rewrite efficacy per direction; below `effects.min_efficacy` (0.8) a warning is printed above the
table and kept in the effects file, `effects.low_efficacy: refuse` stops instead, and
`effects.passed_judge_only: true` estimates on the examples whose rewrites both passed the judge,
labelled as conditional on that selection (estimation/gate.py).

Normalised effects divide by the pooled within-group sd of R(original) (`reward_std`). Diagnostics:
the rewrite effect R(rewritten rewrite) - R(original) per W group and its asymmetry between the groups,
which biases RATE (a warning is logged when it is significant). An optional seeded studentized
bootstrap adds a second interval (estimation/bootstrap.py). When the records carry rewards of the oracle
counterfactual (simulated data), the true sample ATE, ATT and ATU are reported beside the estimates.

Usage:
    python treatment_effects.py --config config.yaml [--effects.reward_key=vader]
        [--effects.dataset_filename="[latest, other_scored.jsonl]"] [--effects.bootstrap_resamples=2000]

Reads the latest scored file (or each of `effects.dataset_filename`) and, for each reward key, writes
PROJECT_DIR/effects/<dataset>_<model>[_<reward key>]_treatment_effects[_smoke_test]_<stamp>.json
and its .meta.json sidecar; then one table of the whole run,
PROJECT_DIR/effects/<dataset>_<model>_effects_table[_smoke_test]_<stamp>.csv and .md, and prints it.
"""

from __future__ import annotations

import csv
import logging
import math
import sys

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


def _cell(value, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _p_cell(p) -> str:
    if p is None:
        return ""
    # a p-value below the smallest double underflows to 0; say so instead of printing 0
    return "<1e-300" if p == 0 else (f"{p:.2e}" if p < 1e-3 else f"{p:.3f}")


def format_table(rows: list[dict], alpha: float) -> str:
    """A markdown table of `estimates` rows. Rows carrying `dataset` and `reward_key` (the table of a
    whole run) get those columns first; a bootstrap interval column appears when rows have one. ATU is
    labelled "ATU (ATC)", the same estimand under the name other libraries use."""
    level = f"{100 * (1 - alpha):g}%"
    context = bool(rows) and "dataset" in rows[0]
    boot = any("boot_ci_low" in row for row in rows)
    head = (["dataset", "reward key"] if context else []) + [
        "estimator", "estimand", "estimate", "SE", f"{level} CI", "p", "n1", "n0", "estimate/sd", "SE/sd", "truth"]
    head += [f"bootstrap {level} CI"] if boot else []
    align = (["---"] * 2 if context else []) + ["---", "---"] + ["---:"] * 2 + ["---"] + ["---:"] * 6
    align += ["---"] if boot else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for row in rows:
        cells = [row["dataset"], row["reward_key"]] if context else []
        cells += [row["estimator"], "ATU (ATC)" if row["estimand"] == "ATU" else row["estimand"],
                  _cell(row["estimate"], "+.4f"), _cell(row["se"], ".4f"),
                  f"[{_cell(row['ci_low'], '+.4f')}, {_cell(row['ci_high'], '+.4f')}]", _p_cell(row.get("p")),
                  str(row.get("n1", "")), str(row.get("n0", "")), _cell(row.get("norm_estimate"), "+.4f"),
                  _cell(row.get("norm_se"), ".4f"), _cell(row.get("truth"), "+.4f")]
        if boot:
            low, high = row.get("boot_ci_low"), row.get("boot_ci_high")
            cells.append("" if low is None else f"[{low:+.4f}, {high:+.4f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_run_tables(rows: list[dict], alpha: float, artifact) -> tuple:
    """The tidy CSV and the markdown table of every (file, reward key) of the run, sharing one stem."""
    csv_path, artifact = utils.artifacts.new_path(artifact, "csv")
    columns = ["dataset", "reward_key", *ROW_KEYS] + (["boot_ci_low", "boot_ci_high"] if any(
        "boot_ci_low" in row for row in rows) else [])

    def write_csv(handle):
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: "" if row.get(key) is None else row[key] for key in columns})

    utils.atomic_write(csv_path, write_csv)
    md_path = utils.atomic_write(csv_path.with_suffix(".md"), lambda h: h.write(format_table(rows, alpha) + "\n"))
    return csv_path, md_path, artifact


def check_settings(cfg) -> None:
    section = cfg["effects"]
    if not 0 < section["alpha"] < 1:
        raise utils.RateError(f"{cfg.source('effects.alpha')}: effects.alpha must be in (0, 1)")
    # each tail of the interval should rest on at least 5 resamples, or its quantile is mostly noise
    minimum = math.ceil(10 / section["alpha"])
    resamples = section["bootstrap_resamples"]
    if resamples < 0 or 0 < resamples < minimum:
        raise utils.RateError(f"{cfg.source('effects.bootstrap_resamples')}: effects.bootstrap_resamples must be 0 "
                              f"(no bootstrap) or at least {minimum} at alpha {section['alpha']:g}, got {resamples}")
    if section["reward_key"] is not None:
        effects_inputs.as_list(section["reward_key"], "effects.reward_key", cfg)
    if not 0 <= section["min_efficacy"] <= 1:
        raise utils.RateError(f"{cfg.source('effects.min_efficacy')}: effects.min_efficacy must be in [0, 1], got "
                              f"{section['min_efficacy']:g}")


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


def plan_inputs(cfg, dataset: str, score: str) -> list[dict]:
    """Every input file with its records, the reward keys to analyse in it, and its label, checked
    before anything is written: a listed reward key no file holds is an error."""
    section = cfg["effects"]
    sources = effects_inputs.resolve_sources(cfg, dataset, score)
    plans, labels = [], set()
    for source in sources:
        records = utils.read_records(source)
        keys = effects_inputs.find_reward_keys(records, section["reward_key"], section["w_original_key"], source)
        label, model = (dataset, score) if len(sources) == 1 else effects_inputs.describe_source(source, dataset, score)
        # two files of one dataset and model stay apart in the run table under their file names
        label = source.stem if label in labels else label
        labels.add(label)
        plans.append({"source": source, "records": records, "reward_keys": keys, "label": label, "model": model})
    if isinstance(section["reward_key"], list):
        unused = [k for k in section["reward_key"] if not any(k in plan["reward_keys"] for plan in plans)]
        if unused:
            raise utils.RateError(f"{cfg.source('effects.reward_key')}: no input file holds rewards under {unused}")
    return plans


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    check_settings(cfg)
    section = cfg["effects"]
    dataset = utils.dataset_key(cfg, "effects")
    score = utils.scored_model(cfg)

    run_rows, outputs, headlines = [], [], []
    plans = plan_inputs(cfg, dataset, score)
    for plan in plans:
        plan["efficacy"] = effects_gate.assess(plan["records"], section, effects_gate.judge_name(plan["source"]))
        effects_gate.check(plan["efficacy"], section, cfg, plan["source"])  # before anything is written
        if section["passed_judge_only"] and not plan["efficacy"]["measured"]:
            raise utils.RateError(f"{cfg.source('effects.passed_judge_only')}: effects.passed_judge_only: "
                                  f"{plan['source']} holds no judge verdicts to select by")
    for plan in plans:
        source, records, reward_keys = plan["source"], plan["records"], plan["reward_keys"]
        upstream = effects_inputs.upstream_dropped(source)
        if upstream:
            logger.warning("%s: earlier phases left out %s", source, upstream)
        label = plan["label"] + (effects_gate.LABEL if section["passed_judge_only"] else "")
        headlines.append(f"{label}: {effects_gate.summary_line(plan['efficacy'])}")
        if plan["efficacy"]["warning"]:
            logger.warning("%s: %s", source.name, plan["efficacy"]["warning"])
            headlines.append(f"WARNING ({label}): {plan['efficacy']['warning']}")
        for reward_key in reward_keys:
            results, dropped = analyse(records, reward_key, section, source)
            results["diagnostics"]["dropped"] = {"this phase": dropped, "earlier phases": upstream}
            results["efficacy"] = plan["efficacy"]
            if section["passed_judge_only"]:
                results["selection"] = {"rule": effects_gate.SELECTION,
                                        "counts": effects_gate.selection_counts(records)}
            results.update({"dataset_name": plan["label"], "score": plan["model"], "reward_key": reward_key,
                            "input_file": str(source), "examples_read": len(records), "dropped": dropped,
                            **{k: v for k, v in section.items() if k not in ("dataset_name", "score", "reward_key")}})
            wanted = utils.artifacts.of(cfg, "effects", plan["label"], [plan["model"]], reward_key=reward_key,
                                        named_key=len(reward_keys) > 1)
            output, artifact = utils.artifacts.new_path(wanted, "json")
            utils.write_json(output, results)
            n_used = results["Y1_count"] + results["Y0_count"]
            utils.write_meta(output, script="treatment_effects.py", cfg=cfg, started_at=started, inputs=[source],
                             artifact=artifact,
                             templates={"reward_key": reward_key},
                             counts={"examples_read": len(records), "examples_used": n_used, "n1": results["Y1_count"],
                                     "n0": results["Y0_count"], "dropped": dropped, "dropped_earlier": upstream})
            logger.info("wrote %s", output)
            outputs.append(output)
            run_rows += [{"dataset": label, "reward_key": reward_key, **row} for row in results["estimates"]]

    csv_path, md_path, table = write_run_tables(run_rows, section["alpha"],
                                                utils.artifacts.of(cfg, "table", dataset, [score]))
    utils.write_meta(csv_path, script="treatment_effects.py", cfg=cfg, started_at=started, inputs=outputs, artifact=table,
                     counts={"rows": len(run_rows), "tables": [str(csv_path), str(md_path)]})
    if section["passed_judge_only"]:
        headlines.append(f"NOTE: every estimate below is {effects_gate.SELECTION}.")
    for line in headlines:
        print(line)
    print(format_table(run_rows, section["alpha"]))
    for path in (*outputs, csv_path, md_path):
        print(path)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
