"""Phase 2 of RATE: score every completion of every example with one or more reward models.

Each record gains a dict under each model's reward key holding one reward per completion (original,
rewrite, rewritten rewrite, and the oracle counterfactual where present). Rewards already in the
input file, from other models, are kept; a model whose rewards are already complete is skipped
unless `scoring.rescore=true`.

Usage:
    python score_dataset.py --config config.yaml [--scoring.model=vader | --scoring.models=[a,b]]
                            [--scoring.dataset_filename=latest] [--shard=i/N]
    python score_dataset.py --config config.yaml --merge [--merge=SHARD1.jsonl,SHARD2.jsonl,...]

Reads the latest rewrites file of the dataset (or `scoring.dataset_filename`; with
`scoring.dataset_folder: scored`, a scored file to add models to), writes
PROJECT_DIR/data/scored/<dataset>_<model>_scored[_smoke_test]_<stamp>.jsonl (named after the first
model scored) and its .meta.json sidecar, and prints the output path.

`scoring.model: hf:<local path or hub id>` scores with any Hugging Face sequence classifier.
Finished chunks are checkpointed under PROJECT_DIR/data/cache/scoring/; rerunning the same command
after a crash resumes from them. `--shard=i/N` (the same as `--scoring.shard=i/N`) scores every N-th
example starting at i (0 <= i < N) into
PROJECT_DIR/data/scored/<dataset>_<model>_scored_shard-<i>-of-<N>[_smoke_test]_<stamp>.jsonl; `--merge` then joins
the newest complete set of shards of the same input (or the files listed) into the usual output,
checking that every example id appears exactly once.

A model that can fail a text (`llm_judge`: an unparsable answer, a request that failed) gives it no
reward: the record holds null there and the reason under record["reward_failures"][reward key]
[completion key]; the sidecar and the log count failures by kind. `scoring.dry_run=true` prints what
each model would send and cost (requests, tokens, dollars) and writes nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
from collections import Counter

from scoring import shards as scoring_shards
import utils

logger = logging.getLogger(__name__)


def split_argv(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Turn the shorthands into config overrides: `--shard=i/N` is `--scoring.shard=i/N`;
    `--merge[=a,b]` selects the merge step (returns the listed files, or [] for the newest set)."""
    rest, merge = [], None
    for arg in argv:
        if arg.startswith("--shard="):
            rest.append("--scoring.shard=" + arg.split("=", 1)[1])
        elif arg == "--merge":
            merge = merge or []
        elif arg.startswith("--merge="):
            merge = (merge or []) + [p for p in arg.split("=", 1)[1].split(",") if p]
        else:
            rest.append(arg)
    return rest, merge


def model_values(cfg: utils.Config) -> list[str]:
    section = cfg["scoring"]
    values = section["models"] or [section["model"]]
    source = cfg.source("scoring.models" if section["models"] else "scoring.model")
    for value in values:
        if not isinstance(value, str) or not value:
            raise utils.RateError(f"{source}: scoring.models: each entry must be a template name or hf:<path>, got {value!r}")
    if len(set(values)) != len(values):
        raise utils.RateError(f"{source}: scoring.models lists a model twice: {values}")
    placebo = extra_placebo(section)
    return values + ([placebo] if placebo else [])


def extra_placebo(section: dict) -> str | None:
    """scoring.placebo when it is not already among the models. It is scored beside them with its own
    defaults, so that --scoring.model and a flat model_options keep meaning the model under study."""
    placebo = section["placebo"]
    return placebo if placebo and placebo not in (section["models"] or [section["model"]]) else None


def given_options(cfg: utils.Config, values: list[str]) -> dict[str, tuple[dict, str]]:
    """Each model's own `scoring.model_options` and the config prefix they are reported under.
    With one model the dict is that model's options; with several it is keyed by model."""
    given = cfg["scoring"]["model_options"]
    keyed = [k for k in given if k in values]
    if keyed:
        for key in given:
            if key not in values or not isinstance(given[key], dict):
                raise utils.RateError(f"{cfg.source(f'scoring.model_options.{key}')}: scoring.model_options.{key}: "
                                      f"with keys per model, every key must be one of {values} and hold a mapping")
        return {v: (dict(given.get(v, {})), f"scoring.model_options.{v}") for v in values}
    if given and len(values) > 1:
        raise utils.RateError(f"{cfg.source('scoring.model_options')}: scoring.model_options: with several models, "
                              f"key the options by model (e.g. model_options: {{{values[0]}: {{...}}}})")
    return {v: (dict(given), "scoring.model_options") for v in values}


def prepare_models(cfg: utils.Config, values: list[str]) -> list[tuple[str, object, dict]]:
    """(config value, module, merged options) per model, all checked before anything is loaded."""
    import scoring_templates

    section, prepared = cfg["scoring"], []
    key = "scoring.models" if section["models"] else "scoring.model"
    placebo = extra_placebo(section)
    options = given_options(cfg, [v for v in values if v != placebo])
    if placebo:
        options[placebo] = ({}, "scoring.placebo")
    for value, (given, prefix) in options.items():
        name, implied = scoring_templates.resolve(value)
        module = utils.find_module("scoring_templates", name, "scoring.placebo" if value == placebo else key, cfg)
        run_wide = {k: section[k] for k in ("device", "dtype") if section[k] is not None and k in module.OPTIONS}
        options = utils.merge_options({**run_wide, **given, **implied}, module.OPTIONS, prefix, cfg.sources,
                                      getattr(module, "CHECKS", {}))
        prepared.append((value, module, options))
    return prepared


def engine_settings(cfg: utils.Config, model) -> tuple[int, int]:
    """The token budget and text cap per forward pass; a null budget is chosen by device, on a GPU
    from the model's size and the device's memory (scoring/budget.py)."""
    from scoring import budget

    section = cfg["scoring"]
    return budget.engine_settings(model, section["max_batch_tokens"], section["batch_size"],
                                  texts_set="scoring.batch_size" in cfg.sources)


def complete(records: list[dict], reward_key: str) -> bool:
    return all(isinstance(r.get(reward_key), dict)
               and all(k in r[reward_key] for k, t in r["completions"].items() if isinstance(t, str)) for r in records)


def checkpoint_path(cfg, dataset: str, value: str, options: dict, input_sha: str, shard: str | None):
    """A checkpoint belongs to one input file, model, option set and shard (all in the digest), so
    a changed config never reuses another run's rewards. Names are cut short: local model paths
    can be long."""
    key = json.dumps({"input": input_sha, "model": value, "options": options, "shard": shard}, sort_keys=True,
                     default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    shard_part = f"_{scoring_shards.part(scoring_shards.parse(shard))}" if shard else ""
    name = f"{dataset[:60]}_{utils.slug(value)[-60:]}{utils.smoke_mark(cfg.smoke)}{shard_part}_{digest}.jsonl"
    return utils.folder("cache") / "scoring" / name


def score_model(records: list[dict], model, cfg: utils.Config, checkpoint) -> dict:
    """Add `model`'s rewards to every record in place; returns its summary. Completions that are
    None (failed rewrites) get no reward."""
    from scoring import engine as scoring_engine

    items = [(record, key) for record in records for key, text in record["completions"].items() if isinstance(text, str)]
    budget, max_texts = engine_settings(cfg, model)
    rewards, stats = scoring_engine.score_texts(
        model, [r["reward_question"] for r, _ in items], [r["completions"][k] for r, k in items],
        max_tokens=budget, max_texts=max_texts, checkpoint=checkpoint, chunk_texts=cfg["scoring"]["checkpoint_texts"])
    if items and len(stats.failures) == len(items):
        # a dead server or a wrong model name: a file of nulls would become `latest` and feed phase 3 nothing
        top = Counter(stats.failures.values()).most_common(1)[0][0]
        raise utils.RateError(f"{model.name}: every one of the {len(items)} texts failed ({top[:200]}); nothing was "
                              f"written. Check the scoring.model_options of '{model.name}' (base_url, model)")
    for record in records:
        record[model.reward_key] = {}
        forget_failures(record, model.reward_key)
    for index, ((record, key), reward) in enumerate(zip(items, rewards)):
        reason = stats.failures.get(index)
        # a failed text is null, never a number: phase 3 drops its example as having no finite reward
        record[model.reward_key][key] = None if reason else reward
        if reason:
            record.setdefault("reward_failures", {}).setdefault(model.reward_key, {})[key] = reason
    summary = stats.summary()
    if model.summary:
        summary.update({f"api {k}": v for k, v in model.summary().items()})
    summary["failed_completions_skipped"] = sum(t is None for r in records for t in r["completions"].values())
    summary["max_batch_tokens"], summary["batch_size"] = budget, max_texts
    if stats.truncated:
        logger.warning("%s: %d texts were longer than %s tokens and were truncated", model.name, stats.truncated,
                       model.max_length)
    if stats.non_finite:
        logger.warning("%s: %d rewards are not finite", model.name, stats.non_finite)
    if stats.failures:
        logger.warning("%s: %d texts have no reward (%s); their reasons are under reward_failures", model.name,
                       len(stats.failures), ", ".join(f"{k} {v}" for k, v in summary["failures"].items()))
    logger.info("%s: %s", model.name, ", ".join(f"{k} {v}" for k, v in summary.items()))
    return summary


def forget_failures(record: dict, reward_key: str) -> None:
    """Drop a model's failures from an earlier scoring of this record: it is being scored again."""
    lost = record.get("reward_failures")
    if isinstance(lost, dict) and reward_key in lost:
        del lost[reward_key]
        if not lost:
            del record["reward_failures"]


def dry_run(records: list[dict], prepared: list, cfg: utils.Config) -> None:
    """Prints what each model would send and cost; scores, sends and writes nothing. Only a template
    that talks to a server is built (building loads nothing there); a local model is not loaded."""
    from rewriters import _pricing

    items = [(r["reward_question"], t) for r in records for t in r["completions"].values() if isinstance(t, str)]
    questions, completions = [q for q, _ in items], [t for _, t in items]
    lines = []
    for value, module, options in prepared:
        if getattr(module, "SERVER", None) is None:
            lines.append(f"{value}: scores in this process; sends nothing to pay for")
            continue
        model = utils.build_module(module, options, cfg)
        try:
            if model.estimate is None:
                lines.append(f"{value}: scores through a {module.SERVER} server; it gives no estimate")
                continue
            plan = model.estimate(questions, completions)
        finally:
            if model.close:
                model.close()
        logger.info("dry run: %s: %s", value, plan)
        lines += _pricing.plan_lines(f"dry run: {value} (reward key {model.reward_key}), backend {plan['backend']}, "
                                     f"model {plan['model']}", plan, plan.get("batch", False), plan["cost_hint"],
                                     "at most max_tokens each")
    print("\n".join(lines + [f"{len(completions):,} texts; nothing was sent, nothing was written"]))


def main(argv: list[str] | None = None) -> None:
    argv, merge = split_argv(sys.argv[1:] if argv is None else argv)
    cfg, started = utils.start(argv, __doc__)
    section = cfg["scoring"]
    values = model_values(cfg)
    dataset = utils.dataset_key(cfg, "scoring")
    if merge is not None:
        print(scoring_shards.merge(cfg, dataset, values[0], merge, started))
        return
    prepared = prepare_models(cfg, values)
    shard = scoring_shards.parse(section["shard"])

    source = utils.artifacts.resolve(section["dataset_folder"], section["dataset_filename"], "scoring.dataset_filename",
                                     cfg, dataset)
    # Two runs scoring one input with one model would share (and garble) a checkpoint; other models
    # and other shards run side by side.
    shard_part = f"-{scoring_shards.part(shard)}" if shard else ""
    # A dry run sends nothing and writes nothing, so it takes no lock.
    with utils.exclusive(f"score_dataset-{source.name}-{'+'.join(sorted(values))}{shard_part}",
                         f"scores of {source.name} by {', '.join(values)}{shard_part.replace('-', ' ')}",
                         enabled=not section["dry_run"]):
        records = read_input(source, shard, cfg)
        if section["dry_run"]:
            dry_run(records, prepared, cfg)
            return
        scored = score_models(records, prepared, cfg, source, dataset)
        output = write_scored(records, scored, cfg, started, source, shard, dataset)
    print(output)


def read_input(source, shard: tuple[int, int] | None, cfg: utils.Config) -> list[dict]:
    """The records of `source` (checked), or of its shard."""
    records = utils.read_records(source)
    utils.record.validate(records, source)
    logger.info("read %d records from %s", len(records), source)
    if not shard:
        return records
    selected = scoring_shards.select(records, *shard)
    logger.info("shard %d/%d: %d records", shard[0], shard[1], len(selected))
    if not selected:
        raise utils.RateError(f"{cfg.source('scoring.shard')}: scoring.shard={cfg['scoring']['shard']} selects no "
                              f"record of the {len(records)} in {source}; use fewer shards")
    return selected


@dataclasses.dataclass(frozen=True)
class Scored:
    """One model that scored the run: its config value, name, reward key, summary and checkpoint."""
    value: str
    name: str
    reward_key: str
    summary: dict
    checkpoint: object


def score_models(records: list[dict], prepared: list, cfg: utils.Config, source, dataset: str) -> list[Scored]:
    """Each model's rewards added to the records in place, one model loaded at a time; a model whose
    rewards the input already holds is skipped unless scoring.rescore."""
    from scoring import engine as scoring_engine

    section, input_sha, scored = cfg["scoring"], utils.sha256(source), []
    for value, module, options in prepared:
        model = utils.build_module(module, options, cfg)
        try:
            if not section["rescore"] and complete(records, model.reward_key):
                logger.info("%s: %s already holds every reward under '%s'; skipped (scoring.rescore=true scores it "
                            "again)", model.name, source.name, model.reward_key)
                continue
            if any(model.reward_key in record for record in records):
                logger.warning("%s holds some rewards under '%s'; they are replaced", source.name, model.reward_key)
            checkpoint = scoring_engine.Checkpoint(checkpoint_path(cfg, dataset, value, options, input_sha,
                                                                   section["shard"]))
            summary = {"reward_key": model.reward_key, **(model.info or {}),
                       **score_model(records, model, cfg, checkpoint)}
            scored.append(Scored(value, model.name, model.reward_key, summary, checkpoint))
        finally:
            if model.close:
                model.close()
    if not scored:
        raise utils.RateError(f"{cfg.source('scoring.rescore')}: every model of the run already has its rewards in "
                              f"{source}; set scoring.rescore=true to score again")
    return scored


def write_scored(records: list[dict], scored: list[Scored], cfg: utils.Config, started: str, source,
                 shard: tuple[int, int] | None, dataset: str):
    """The scored file, named after the first model scored; every model whose rewards it holds is in
    its identity. Checkpoints go once it is written (unless scoring.keep_checkpoints)."""
    values = [s.value for s in scored]
    before = [m for m in (utils.artifacts.identity(source) or utils.artifacts.Artifact("scored", dataset)).models
              if m not in values]
    wanted = utils.artifacts.of(cfg, "scored", dataset, [*values, *before],
                                part=scoring_shards.part(shard))
    reserved = utils.artifacts.new_path(wanted, "jsonl")
    output = reserved.path
    n_texts = sum(s.summary["texts"] for s in scored)
    lost = {s.reward_key: s.summary["failures"] for s in scored if s.summary.get("failures")}
    utils.write_output(output, lambda path: utils.write_jsonl(path, records), script="score_dataset.py", cfg=cfg,
                       started_at=started, inputs=[source], artifact=reserved.artifact,
                       templates={"scoring": scored[0].name, "reward_key": scored[0].reward_key,
                                  "models": [s.name for s in scored], "reward_keys": [s.reward_key for s in scored],
                                  "shard": cfg["scoring"]["shard"]},
                       counts={"examples": len(records), "texts_scored": n_texts,
                               "models": {s.name: s.summary for s in scored},
                               **({"reward_failures": lost} if lost else {})})
    if not cfg["scoring"]["keep_checkpoints"]:
        for s in scored:
            s.checkpoint.remove()
    skipped = sum(s.summary.get("failed_completions_skipped", 0) for s in scored)
    failed = "; ".join(f"{key}: {sum(counts.values())} texts without a reward ("
                       + ", ".join(f"{kind} {n}" for kind, n in counts.items()) + ")" for key, counts in lost.items())
    if skipped:
        failed += ("; " if failed else "") + f"{skipped} texts of failed rewrites had nothing to score"
    utils.log_summary(logger, f"{source} ({len(records)} records)",
                      f"{output} ({n_texts} texts scored by {', '.join(s.name for s in scored)})",
                      f"none ({failed})" if skipped and not lost else failed or "none")
    return output
