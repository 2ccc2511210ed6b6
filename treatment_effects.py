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

from estimation import gate as effects_gate
from estimation import inputs as effects_inputs
from estimation import results as effects_results
from reporting import tables as effects_tables
import utils

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
    # Every effects file and the tables of this run, or none of them (a full disk, a kill).
    with utils.artifacts.all_or_none(utils.folder("effects"), f"treatment_effects_{dataset}_{os.getpid()}") as keep:
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
                results, dropped = effects_results.analyse(records, reward_key, section, source)
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
                keep(output, utils.meta_path(output), output.with_name(f".{output.stem}.reserved"))
                n_used = results["Y1_count"] + results["Y0_count"]
                utils.write_output(output, lambda path: utils.write_json(path, results), script="treatment_effects.py",
                                   cfg=cfg, started_at=started, inputs=[source], artifact=artifact,
                                   templates={"reward_key": reward_key},
                                   counts={"examples_read": len(records), "examples_used": n_used,
                                           "n1": results["Y1_count"], "n0": results["Y0_count"], "dropped": dropped,
                                           "dropped_earlier": upstream})
                logger.info("wrote %s", output)
                outputs.append(output)
                run_rows += [{"dataset": label, "reward_key": reward_key, **row} for row in results["estimates"]]

        csv_path, md_path = effects_tables.write_run_tables(run_rows, section["alpha"],
                                                           utils.artifacts.of(cfg, "table", dataset, [score]), keep,
                                                           script="treatment_effects.py", cfg=cfg, started_at=started,
                                                           inputs=outputs, counts={"rows": len(run_rows)})
    if section["passed_judge_only"]:
        headlines.append(f"NOTE: every estimate below is {effects_gate.SELECTION}.")
    for line in headlines:
        print(line)
    print(effects_tables.format_table(run_rows, section["alpha"]))
    for path in (*outputs, csv_path, md_path):
        print(path)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
