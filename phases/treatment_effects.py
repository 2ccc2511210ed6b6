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

import dataclasses
import logging
import math
import os
from pathlib import Path

import utils

logger = logging.getLogger(__name__)


def check_settings(cfg) -> None:
    """The rules that tie two effects keys together; what one key may hold is declared in utils/schema.py
    and checked when the config is loaded."""
    section = cfg["effects"]
    # each tail of the interval should rest on at least 5 resamples, or its quantile is mostly noise
    minimum = math.ceil(10 / section["alpha"])
    resamples = section["bootstrap_resamples"]
    if 0 < resamples < minimum:
        raise utils.RateError(f"{cfg.source('effects.bootstrap_resamples')}: effects.bootstrap_resamples must be 0 "
                              f"(no bootstrap) or at least {minimum} at alpha {section['alpha']:g}, got {resamples}")
    placebo, keys = section["placebo_reward_key"], section["reward_key"]
    if placebo is not None and placebo in (keys if isinstance(keys, list) else [keys]):
        raise utils.RateError(f"{cfg.source('effects.placebo_reward_key')}: effects.placebo_reward_key {placebo!r} "
                              f"is also in effects.reward_key; a placebo is a check, not an estimate")


@dataclasses.dataclass(frozen=True)
class Input:
    """One scored file of the run: its records (as columns), the reward keys to analyse in it, its label
    in the run table, the model it is named after, its placebo key if it holds one, the sidecar of the
    rewrites it came from, and the judge's efficacy (estimation/gate.py)."""
    source: Path
    records: object
    reward_keys: list[str]
    label: str
    model: str
    placebo: str | None
    rewrites: dict | None
    efficacy: dict | None = None


@dataclasses.dataclass(frozen=True)
class Analysis:
    """One reward key of one input: its results (the effects file's content) and the arrays they were
    estimated from (which the run-level contrasts pair up)."""
    input: Input
    label: str
    reward_key: str
    results: dict
    arrays: dict
    upstream: dict


def read_inputs(cfg, dataset: str, score: str) -> list[Input]:
    """Every input file with its records, the reward keys to analyse in it, and its label, checked
    before anything is written: a listed reward key that no file holds is an error."""
    from estimation import inputs as effects_inputs
    from estimation import reader as effects_reader

    section = cfg["effects"]
    placebo = section["placebo_reward_key"]
    sources = effects_inputs.resolve_sources(cfg, dataset, score)
    # rewards and verdicts as columns, the texts never held: a scored file's texts are most of its bytes
    wanted = None if section["reward_key"] is None else [*effects_inputs.as_list(section["reward_key"]),
                                                         *([placebo] if placebo else [])]
    inputs, labels = [], set()
    for source in sources:
        records = effects_reader.read(source, tuple(utils.record.reward_keys(section).values()), (utils.record.ORACLE,),
                                      wanted)
        keys = effects_inputs.find_reward_keys(records, section["reward_key"], section["w_original_key"], source,
                                               placebo)
        label, model = (dataset, score) if len(sources) == 1 else effects_inputs.describe_source(source, dataset, score)
        # two files of one dataset and model stay apart in the run table under their file names
        label = source.stem if label in labels else label
        labels.add(label)
        has_placebo = placebo in effects_inputs.reward_keys_in(records, section["w_original_key"])
        inputs.append(Input(source, records, keys, label, model, placebo if has_placebo else None,
                            effects_inputs.rewrites_meta(source)))
    if isinstance(section["reward_key"], list):
        unused = [k for k in section["reward_key"] if not any(k in found.reward_keys for found in inputs)]
        if unused:
            raise utils.RateError(f"{cfg.source('effects.reward_key')}: no input file holds rewards under {unused}")
    for found in inputs:
        if placebo is not None and not found.placebo:
            # a warning, not an error: the estimates stand without the check, which costs one more scoring
            logger.warning("%s holds no rewards under the placebo '%s' (effects.placebo_reward_key): no placebo check "
                           "for it; score its rewrites with that model too (scoring.placebo)", found.source, placebo)
    return inputs


def gate(records, source, cfg) -> dict:
    """The judge's efficacy of one input, which effects.low_efficacy may refuse."""
    from estimation import gate as effects_gate

    section = cfg["effects"]
    efficacy = effects_gate.assess(records, section, effects_gate.judge_name(source))
    effects_gate.check(efficacy, section, cfg, source)
    if section["passed_judge_only"] and not efficacy["measured"]:
        raise utils.RateError(f"{cfg.source('effects.passed_judge_only')}: effects.passed_judge_only: "
                              f"{source} holds no judge verdicts to select by")
    return efficacy


def analyse_input(found: Input, section: dict) -> tuple[list[Analysis], list[dict], list[str]]:
    """Every reward key of one input file, and its placebo: the analyses, the placebo's rows of the
    run table, and the lines printed above the table."""
    from estimation import gate as effects_gate
    from estimation import inputs as effects_inputs
    from estimation import results as effects_results

    source, records = found.source, found.records
    upstream = effects_inputs.upstream_dropped(source)
    if upstream:
        logger.warning("%s: earlier phases left out %s", source, upstream)
    label = found.label + (effects_gate.LABEL if section["passed_judge_only"] else "")
    headlines = [f"{label}: {effects_gate.summary_line(found.efficacy)}"]
    if found.efficacy["warning"]:
        logger.warning("%s: %s", source.name, found.efficacy["warning"])
        headlines.append(f"WARNING ({label}): {found.efficacy['warning']}")
    placebo, placebo_rows = None, []
    if found.placebo:
        placebo_results, _, _ = effects_results.analyse(records, found.placebo, section, source)
        placebo = effects_results.placebo_summary(placebo_results, found.placebo)
        headlines.append(f"{'WARNING ' if not placebo['consistent_with_zero'] else ''}({label}) {placebo['line']}")
        # a placebo's "breakdown" would answer no question: its truth is 0
        placebo_rows = [{"dataset": label, "reward_key": f"{found.placebo} (placebo)", **row,
                         "breakdown_delta": None, "norm_breakdown_delta": None}
                        for row in placebo_results["estimates"] if row["estimator"] == "RATE"]
    analyses = []
    for reward_key in found.reward_keys:
        results, dropped, arrays = effects_results.analyse(records, reward_key, section, source)
        results["diagnostics"]["dropped"] = {"this phase": dropped, "earlier phases": upstream}
        results["efficacy"] = found.efficacy
        if placebo:
            results["placebo"] = placebo
        if section["passed_judge_only"]:
            results["selection"] = {"rule": effects_gate.SELECTION, "counts": effects_gate.selection_counts(records)}
        results.update({"dataset_name": found.label, "score": found.model, "reward_key": reward_key,
                        "input_file": str(source), "examples_read": len(records), "dropped": dropped,
                        **{k: v for k, v in section.items() if k not in ("dataset_name", "score", "reward_key")}})
        analyses.append(Analysis(found, label, reward_key, results, arrays, upstream))
    return analyses, placebo_rows, headlines


def write_effects(analyses: list[Analysis], cfg, started: str, keep) -> list[Path]:
    """One effects file per analysis, each with its sidecar."""
    from estimation import contrasts as effects_contrasts

    outputs = []
    for analysis in analyses:
        found, results, reward_key = analysis.input, analysis.results, analysis.reward_key
        wanted = utils.artifacts.of(cfg, "effects", found.label, [found.model], reward_key=reward_key,
                                    named_key=len(found.reward_keys) > 1)
        reserved = utils.artifacts.new_path(wanted, "json")
        output = reserved.path
        keep(*reserved.files())
        n_used = results["Y1_count"] + results["Y0_count"]
        utils.write_output(output, lambda path: utils.write_json(path, {**results, "multiplicity": effects_contrasts.FAMILIES}),
                           script="treatment_effects.py", cfg=cfg, started_at=started, inputs=[found.source],
                           artifact=reserved.artifact, templates={"reward_key": reward_key},
                           counts={"examples_read": len(found.records), "examples_used": n_used,
                                   "n1": results["Y1_count"], "n0": results["Y0_count"],
                                   "dropped": results["dropped"], "dropped_earlier": analysis.upstream})
        logger.info("wrote %s", output)
        outputs.append(output)
    return outputs


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    check_settings(cfg)
    section = cfg["effects"]
    dataset = utils.dataset_key(cfg, "effects")
    score = utils.scored_model(cfg)

    # every input's efficacy passes the gate before anything is estimated or written
    inputs = [dataclasses.replace(found, efficacy=gate(found.records, found.source, cfg))
              for found in read_inputs(cfg, dataset, score)]
    analyses, placebo_rows, headlines = [], [], []
    for found in inputs:
        found_analyses, found_placebo_rows, found_headlines = analyse_input(found, section)
        analyses += found_analyses
        placebo_rows += found_placebo_rows
        headlines += found_headlines
    run_rows, notes = run_table(analyses, placebo_rows, section)

    # Every effects file and the tables of this run, or none of them (a full disk, a kill).
    with utils.artifacts.all_or_none(utils.folder("effects"), f"treatment_effects_{dataset}_{os.getpid()}") as keep:
        outputs = write_effects(analyses, cfg, started, keep)
        tables = write_tables(run_rows, utils.artifacts.of(cfg, "table", dataset, [score]), keep, cfg, started, outputs)
    print_run(headlines, run_rows, notes, section)
    dropped = sum(sum((a.results["dropped"] or {}).values()) for a in analyses)
    utils.log_summary(logger, ", ".join(f"{found.source} ({len(found.records)} records)" for found in inputs),
                      f"{len(outputs)} effects file(s) and the run table {tables[0]}",
                      f"{dropped} example(s) dropped, by reason in each effects file" if dropped else "none")
    for path in (*outputs, *tables):
        print(path)


def run_table(analyses: list[Analysis], placebo_rows: list[dict], section: dict) -> tuple[list[dict], list[str]]:
    """The rows of the run table (every estimate, the placebo's, the contrasts and pooled rows, with
    p-values adjusted within their families) and the notes printed under it."""
    from estimation import contrasts as effects_contrasts

    extra_rows, notes = effects_contrasts.run_level(analyses, section)
    effects_contrasts.adjust([row for a in analyses for row in a.results["estimates"]] + extra_rows)
    return [{"dataset": a.label, "reward_key": a.reward_key, **row} for a in analyses
            for row in a.results["estimates"]] + placebo_rows + extra_rows, notes


def write_tables(run_rows: list[dict], artifact, keep, cfg, started: str, outputs: list[Path]) -> tuple[Path, Path]:
    from reporting import tables as effects_tables

    return effects_tables.write_run_tables(run_rows, cfg["effects"]["alpha"], artifact, keep,
                                           script="treatment_effects.py", cfg=cfg, started_at=started, inputs=outputs,
                                           counts={"rows": len(run_rows)})


def print_run(headlines: list[str], run_rows: list[dict], notes: list[str], section: dict) -> None:
    from estimation import gate as effects_gate
    from reporting import tables as effects_tables

    if section["passed_judge_only"]:
        headlines = [*headlines, f"NOTE: every estimate below is {effects_gate.SELECTION}."]
    for line in [*headlines, effects_tables.format_table(run_rows, section["alpha"]), *notes]:
        print(line)
