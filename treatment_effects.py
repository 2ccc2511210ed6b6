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

import logging
import math
import os
import sys

import utils

# loaded on first use, so that --help answers at once (utils.lazy_import)
effects_contrasts = utils.lazy_import("estimation.contrasts")
effects_gate = utils.lazy_import("estimation.gate")
effects_inputs = utils.lazy_import("estimation.inputs")
effects_reader = utils.lazy_import("estimation.reader")
effects_results = utils.lazy_import("estimation.results")
effects_tables = utils.lazy_import("reporting.tables")

logger = logging.getLogger(__name__)


def check_settings(cfg) -> None:
    section = cfg["effects"]
    # Ranges of single keys are the schema's (utils/schema.py); this rule ties two keys together:
    # each tail of the interval should rest on at least 5 resamples, or its quantile is mostly noise
    minimum = math.ceil(10 / section["alpha"])
    resamples = section["bootstrap_resamples"]
    if resamples < 0 or 0 < resamples < minimum:
        raise utils.RateError(f"{cfg.source('effects.bootstrap_resamples')}: effects.bootstrap_resamples must be 0 "
                              f"(no bootstrap) or at least {minimum} at alpha {section['alpha']:g}, got {resamples}")
    if section["reward_key"] is not None:
        effects_inputs.as_list(section["reward_key"], "effects.reward_key", cfg)
    deltas = section["sensitivity_deltas"]
    if deltas is not None and (not deltas or not all(
            isinstance(d, (int, float)) and not isinstance(d, bool) and math.isfinite(d) for d in deltas)):
        raise utils.RateError(f"{cfg.source('effects.sensitivity_deltas')}: effects.sensitivity_deltas must be a "
                              f"non-empty list of numbers (raw reward units) or null, got {deltas!r}")
    placebo, keys = section["placebo_reward_key"], section["reward_key"]
    if placebo is not None and placebo in (keys if isinstance(keys, list) else [keys]):
        raise utils.RateError(f"{cfg.source('effects.placebo_reward_key')}: effects.placebo_reward_key {placebo!r} "
                              f"is also in effects.reward_key; a placebo is a check, not an estimate")


def plan_inputs(cfg, dataset: str, score: str) -> list[dict]:
    """Every input file with its records, the reward keys to analyse in it, and its label, checked
    before anything is written: a listed reward key that no file holds is an error."""
    section = cfg["effects"]
    placebo = section["placebo_reward_key"]
    sources = effects_inputs.resolve_sources(cfg, dataset, score)
    plans, labels = [], set()
    for source in sources:
        # rewards and verdicts as columns, the texts never held: a scored file's texts are most of its bytes
        wanted = None if section["reward_key"] is None else [*effects_inputs.as_list(
            section["reward_key"], "effects.reward_key", cfg), *([placebo] if placebo else [])]
        records = effects_reader.read(source, (section["w_original_key"], section["w_counterfactual_key"],
                                               section["w_rewritten_rewrite_key"]), (effects_inputs.ORACLE,), wanted)
        keys = effects_inputs.find_reward_keys(records, section["reward_key"], section["w_original_key"], source,
                                               placebo)
        label, model = (dataset, score) if len(sources) == 1 else effects_inputs.describe_source(source, dataset, score)
        # two files of one dataset and model stay apart in the run table under their file names
        label = source.stem if label in labels else label
        labels.add(label)
        has_placebo = placebo in effects_inputs.reward_keys_in(records, section["w_original_key"])
        plans.append({"source": source, "records": records, "reward_keys": keys, "label": label, "model": model,
                      "placebo": placebo if has_placebo else None, "rewrites": effects_inputs.rewrites_meta(source)})
    if isinstance(section["reward_key"], list):
        unused = [k for k in section["reward_key"] if not any(k in plan["reward_keys"] for plan in plans)]
        if unused:
            raise utils.RateError(f"{cfg.source('effects.reward_key')}: no input file holds rewards under {unused}")
    for plan in plans:
        if placebo is not None and not plan["placebo"]:
            # a warning, not an error: the estimates stand without the check, which costs one more scoring
            logger.warning("%s holds no rewards under the placebo '%s' (effects.placebo_reward_key): no placebo check "
                           "for it; score its rewrites with that model too (scoring.placebo)", plan["source"], placebo)
    return plans


def analyse_plan(plan: dict, section: dict, headlines: list) -> list[dict]:
    """Every reward key of one input file, and its placebo: one analysis (results, arrays) per key."""
    source, records = plan["source"], plan["records"]
    upstream = effects_inputs.upstream_dropped(source)
    if upstream:
        logger.warning("%s: earlier phases left out %s", source, upstream)
    label = plan["label"] + (effects_gate.LABEL if section["passed_judge_only"] else "")
    headlines.append(f"{label}: {effects_gate.summary_line(plan['efficacy'])}")
    if plan["efficacy"]["warning"]:
        logger.warning("%s: %s", source.name, plan["efficacy"]["warning"])
        headlines.append(f"WARNING ({label}): {plan['efficacy']['warning']}")
    placebo, plan["placebo_rows"] = None, []
    if plan["placebo"]:
        placebo_results, _, _ = effects_results.analyse(records, plan["placebo"], section, source)
        placebo = effects_results.placebo_summary(placebo_results, plan["placebo"])
        headlines.append(f"{'WARNING ' if not placebo['consistent_with_zero'] else ''}({label}) {placebo['line']}")
        # the run table's placebo rows; a placebo's "breakdown" would answer no question: its truth is 0
        plan["placebo_rows"] = [{"dataset": label, "reward_key": f"{plan['placebo']} (placebo)", **row,
                                 "breakdown_delta": None, "norm_breakdown_delta": None}
                                for row in placebo_results["estimates"] if row["estimator"] == "RATE"]
    analyses = []
    for reward_key in plan["reward_keys"]:
        results, dropped, arrays = effects_results.analyse(records, reward_key, section, source)
        results["diagnostics"]["dropped"] = {"this phase": dropped, "earlier phases": upstream}
        results["efficacy"] = plan["efficacy"]
        if placebo:
            results["placebo"] = placebo
        if section["passed_judge_only"]:
            results["selection"] = {"rule": effects_gate.SELECTION, "counts": effects_gate.selection_counts(records)}
        results.update({"dataset_name": plan["label"], "score": plan["model"], "reward_key": reward_key,
                        "input_file": str(source), "examples_read": len(records), "dropped": dropped,
                        **{k: v for k, v in section.items() if k not in ("dataset_name", "score", "reward_key")}})
        analyses.append({"plan": plan, "label": label, "reward_key": reward_key, "results": results,
                         "arrays": arrays, "upstream": upstream})
    return analyses


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    check_settings(cfg)
    section = cfg["effects"]
    dataset = utils.dataset_key(cfg, "effects")
    score = utils.scored_model(cfg)

    plans = plan_inputs(cfg, dataset, score)
    for plan in plans:
        plan["efficacy"] = effects_gate.assess(plan["records"], section, effects_gate.judge_name(plan["source"]))
        effects_gate.check(plan["efficacy"], section, cfg, plan["source"])  # before anything is written
        if section["passed_judge_only"] and not plan["efficacy"]["measured"]:
            raise utils.RateError(f"{cfg.source('effects.passed_judge_only')}: effects.passed_judge_only: "
                                  f"{plan['source']} holds no judge verdicts to select by")
    headlines: list[str] = []
    analyses = [analysis for plan in plans for analysis in analyse_plan(plan, section, headlines)]
    extra_rows, notes = effects_contrasts.run_level(analyses, section)
    effects_contrasts.adjust([row for a in analyses for row in a["results"]["estimates"]] + extra_rows)
    run_rows = [{"dataset": a["label"], "reward_key": a["reward_key"], **row}
                for a in analyses for row in a["results"]["estimates"]]
    run_rows += [row for plan in plans for row in plan["placebo_rows"]] + extra_rows

    outputs = []
    # Every effects file and the tables of this run, or none of them (a full disk, a kill).
    with utils.artifacts.all_or_none(utils.folder("effects"), f"treatment_effects_{dataset}_{os.getpid()}") as keep:
        for analysis in analyses:
            plan, results, reward_key = analysis["plan"], analysis["results"], analysis["reward_key"]
            results["multiplicity"] = effects_contrasts.FAMILIES
            wanted = utils.artifacts.of(cfg, "effects", plan["label"], [plan["model"]], reward_key=reward_key,
                                        named_key=len(plan["reward_keys"]) > 1)
            output, artifact = utils.artifacts.new_path(wanted, "json")
            keep(output, utils.meta_path(output), output.with_name(f".{output.stem}.reserved"))
            n_used = results["Y1_count"] + results["Y0_count"]
            utils.write_output(output, lambda path: utils.write_json(path, results), script="treatment_effects.py",
                               cfg=cfg, started_at=started, inputs=[plan["source"]], artifact=artifact,
                               templates={"reward_key": reward_key},
                               counts={"examples_read": len(plan["records"]), "examples_used": n_used,
                                       "n1": results["Y1_count"], "n0": results["Y0_count"],
                                       "dropped": results["dropped"], "dropped_earlier": analysis["upstream"]})
            logger.info("wrote %s", output)
            outputs.append(output)

        csv_path, md_path = effects_tables.write_run_tables(run_rows, section["alpha"],
                                                           utils.artifacts.of(cfg, "table", dataset, [score]), keep,
                                                           script="treatment_effects.py", cfg=cfg, started_at=started,
                                                           inputs=outputs, counts={"rows": len(run_rows)})
    if section["passed_judge_only"]:
        headlines.append(f"NOTE: every estimate below is {effects_gate.SELECTION}.")
    for line in headlines:
        print(line)
    print(effects_tables.format_table(run_rows, section["alpha"]))
    for line in notes:
        print(line)
    dropped = sum(sum((a["results"]["dropped"] or {}).values()) for a in analyses)
    utils.log_summary(logger, ", ".join(f"{plan['source']} ({len(plan['records'])} records)" for plan in plans),
                      f"{len(outputs)} effects file(s) and the run table {csv_path}",
                      f"{dropped} example(s) dropped, by reason in each effects file" if dropped else "none")
    for path in (*outputs, csv_path, md_path):
        print(path)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
