"""Phase 2 of RATE: score every completion of every example with a reward model.

Each record gains a dict under the model's reward key holding one reward per completion
(original, rewrite, rewritten rewrite, and the oracle counterfactual where present). Rewards already
in the input file, from other models, are kept.

Usage:
    python score_dataset.py --config config.yaml [--scoring.model=vader] [--scoring.dataset_filename=latest]

Reads the latest rewrites file of the dataset (or `scoring.dataset_filename`), writes
PROJECT_DIR/data/scored/<dataset>_<model>[_smoke_test]_scored_<YYYYmmdd_HHMMSS>.jsonl and its
.meta.json sidecar, and prints the output path.
"""

from __future__ import annotations

import logging
import sys

from tqdm import tqdm

import utils

logger = logging.getLogger(__name__)


def check_records(records: list[dict], path) -> None:
    for number, record in enumerate(records, 1):
        if not isinstance(record.get("completions"), dict) or "original" not in record["completions"]:
            raise utils.RateError(f"{path}: record {number} (id {record.get('id')!r}) has no completions.original")
        if not isinstance(record.get("w_original"), bool):
            raise utils.RateError(f"{path}: record {number} (id {record.get('id')!r}) has no boolean w_original")


def score_records(records: list[dict], model, batch_size: int) -> int:
    """Add `model`'s rewards to every record in place; returns the number of texts scored.
    Completions that are None (failed rewrites) get no reward."""
    items = [(record, key) for record in records for key, text in record["completions"].items() if isinstance(text, str)]
    rewards: list[float] = []
    with tqdm(total=len(items), desc=f"scoring with {model.name}", unit="text") as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start:start + batch_size]
            scores = model.score_batch([r["reward_question"] for r, _ in batch], [r["completions"][k] for r, k in batch])
            if len(scores) != len(batch):
                raise RuntimeError(f"scoring template '{model.name}' returned {len(scores)} rewards for {len(batch)} texts")
            rewards.extend(float(s) for s in scores)
            bar.update(len(batch))
    for record in records:
        record[model.reward_key] = {}
    for (record, key), reward in zip(items, rewards):
        record[model.reward_key][key] = reward
    return len(items)


def main(argv: list[str] | None = None) -> None:
    utils.setup_logging()
    utils.load_env()
    started = utils.now()
    cfg = utils.config_from_argv(argv, __doc__)
    utils.log_config(cfg)
    section = cfg["scoring"]
    if section["batch_size"] < 1:
        raise utils.RateError(f"{cfg.source('scoring.batch_size')}: scoring.batch_size must be at least 1")

    dataset = utils.dataset_key(cfg, "scoring")
    folder = section["dataset_folder"]
    base = f"{dataset}_dataset" if folder == "rewrites" else f"{dataset}_*_scored"
    source = utils.resolve_input(folder, base, cfg.smoke, section["dataset_filename"], "scoring.dataset_filename", cfg)
    records = utils.read_records(source)
    check_records(records, source)
    logger.info("read %d records from %s", len(records), source)

    model = utils.build_from_module("scoring_templates", section["model"], "scoring.model", "scoring.model_options", cfg)
    if any(model.reward_key in record for record in records):
        logger.warning("%s already holds rewards under '%s'; the new file replaces them", source, model.reward_key)
    n_texts = score_records(records, model, section["batch_size"])

    output = utils.new_output_path("scored", f"{dataset}_{utils.slug(model.name)}_scored", cfg.smoke, "jsonl")
    utils.write_jsonl(output, records)
    utils.write_meta(output, script="score_dataset.py", cfg=cfg, started_at=started, inputs=[source],
                     templates={"scoring": model.name, "reward_key": model.reward_key},
                     counts={"examples": len(records), "texts_scored": n_texts})
    logger.info("scored %d texts of %d examples; wrote %s", n_texts, len(records), output)
    print(output)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
