"""Phase 1 of RATE: sample examples, classify the attribute W, rewrite each example twice.

For every sampled response y with attribute w, the rewriter produces the *rewrite* Re(y, 1-w) and
then the *rewritten rewrite* Re(Re(y, 1-w), w). Failed rewrites are recorded with a reason, never as
text. Templates that know their latent structure also add the oracle counterfactual of y.

Usage:
    python create_dataset.py --config config.yaml [--smoke_test=true] [--rewrites.n_examples=500]

Writes PROJECT_DIR/data/rewrites/<dataset>_dataset[_smoke_test]_<YYYYmmdd_HHMMSS>.jsonl and its
.meta.json sidecar, and prints the output path.
"""

from __future__ import annotations

import logging
import random
import sys
from collections import Counter
from dataclasses import dataclass

from tqdm import tqdm

import utils
from rewriters import RewriteRequest

logger = logging.getLogger(__name__)

REWRITE, REWRITTEN_REWRITE, ORACLE = "rewrite", "rewritten rewrite", "oracle counterfactual"


@dataclass
class Example:
    id: str
    w: bool
    question: str
    original: str


def classify_rows(template) -> tuple[list[Example], int]:
    """Every row with a definite W becomes an Example; rows W cannot be decided for are counted."""
    examples, unclassified, seen = [], 0, set()
    for index, row in enumerate(tqdm(template.load_rows(), desc=f"classifying W ({template.name})", unit="row")):
        w = template.w_classifier(row)
        if w is None:
            unclassified += 1
            continue
        example_id = template.get_id(row, index)
        if example_id in seen:
            raise utils.RateError(f"dataset template '{template.name}' gives duplicate id '{example_id}'")
        seen.add(example_id)
        examples.append(Example(example_id, bool(w), template.get_reward_question(row),
                                template.get_original_completion(row)))
    return examples, unclassified


def sample(examples: list[Example], n: int, seed: int, need_both_w: bool) -> list[Example]:
    """A seeded sample of n examples in dataset order; smoke runs keep both values of W."""
    if n >= len(examples):
        logger.info("asked for %d examples, %d available: taking all", n, len(examples))
        return list(examples)
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(examples)), n))
    if need_both_w and len({examples[i].w for i in chosen}) == 1:
        missing = [i for i, ex in enumerate(examples) if ex.w != examples[chosen[0]].w]
        if missing:
            chosen[-1] = rng.choice(missing)
            chosen.sort()
    return [examples[i] for i in chosen]


def rewrite_twice(examples: list[Example], template, backend) -> dict[str, dict]:
    """Both rewrite passes. The second pass only rewrites successful first rewrites."""
    first = backend.rewrite([
        RewriteRequest(f"{ex.id}:{REWRITE}", template.prompt_for(ex.original, not ex.w), ex.original, not ex.w)
        for ex in examples
    ])
    second_requests = []
    for ex in examples:
        result = first[f"{ex.id}:{REWRITE}"]
        if result.ok:
            second_requests.append(RewriteRequest(f"{ex.id}:{REWRITTEN_REWRITE}",
                                                  template.prompt_for(result.text, ex.w), result.text, ex.w))
    second = backend.rewrite(second_requests)
    return {**first, **second}


def make_record(ex: Example, results: dict, template) -> dict:
    completions: dict = {"original": ex.original}
    failures = {}
    for key in (REWRITE, REWRITTEN_REWRITE):
        result = results.get(f"{ex.id}:{key}")
        completions[key] = result.text if result and result.ok else None
        if result is None:
            failures[key] = "not attempted: the rewrite failed"
        elif not result.ok:
            failures[key] = result.failure
    if template.oracle_counterfactual is not None:
        completions[ORACLE] = template.oracle_counterfactual(ex.original, not ex.w)
    record = {"id": ex.id, "w_original": ex.w, "reward_question": ex.question, "completions": completions}
    if failures:
        record["failures"] = failures
    return record


def count_outcomes(records: list[dict], template) -> dict:
    counts = Counter(w_original=0, w_counterfactual=0)
    for record in records:
        counts["w_original" if record["w_original"] else "w_counterfactual"] += 1
        for key, reason in record.get("failures", {}).items():
            counts[f"failed {key}"] += 1
        if template.classify_text is None:
            continue
        # Rewrite efficacy: did the rewriter really flip W (and flip it back)?
        rewrite, back = record["completions"][REWRITE], record["completions"][REWRITTEN_REWRITE]
        if rewrite is not None:
            counts["rewrite judged"] += 1
            counts["rewrite flipped W"] += template.classify_text(rewrite) == (not record["w_original"])
        if back is not None:
            counts["rewritten rewrite judged"] += 1
            counts["rewritten rewrite restored W"] += template.classify_text(back) == record["w_original"]
    return {"examples": len(records), "w=1": counts.pop("w_original"), "w=0": counts.pop("w_counterfactual"),
            **dict(counts)}


def main(argv: list[str] | None = None) -> None:
    utils.setup_logging()
    utils.load_env()
    started = utils.now()
    cfg = utils.config_from_argv(argv, __doc__)
    utils.log_config(cfg)
    section = cfg["rewrites"]

    template = utils.build_from_module("dataset_templates", section["dataset_name"], "rewrites.dataset_name",
                                       "rewrites.template_options", cfg)
    backend_name = section["backend"] or template.backend
    model = section["model"] or template.model
    temperature = section["temperature"] if section["temperature"] is not None else template.temperature
    backend = utils.build_from_module("rewriters", backend_name, "rewrites.backend", "rewrites.backend_options",
                                      cfg, template, model, temperature, section["seed"])
    logger.info("dataset template %s, rewriter backend %s (model %s, temperature %s)",
                template.name, backend_name, model, temperature)

    examples, unclassified = classify_rows(template)
    if not examples:
        raise utils.RateError(f"dataset template '{template.name}' yielded no example with a definite W")
    n = section["smoke_test_examples"] if cfg.smoke else (section["n_examples"] or template.n_examples)
    chosen = sample(examples, n, section["seed"], need_both_w=cfg.smoke)
    logger.info("%d rows classified (%d skipped: W undecided); sampled %d", len(examples), unclassified, len(chosen))

    results = rewrite_twice(chosen, template, backend)
    records = [make_record(ex, results, template) for ex in chosen]
    counts = {"rows_classified": len(examples), "rows_unclassified": unclassified, **count_outcomes(records, template)}

    output = utils.new_output_path("rewrites", f"{template.name}_dataset", cfg.smoke, "jsonl")
    utils.write_jsonl(output, records)
    utils.write_meta(output, script="create_dataset.py", cfg=cfg, started_at=started, counts=counts,
                     templates={"dataset": template.name, "backend": backend_name, "model": model,
                                "temperature": temperature})
    logger.info("counts: %s", counts)
    logger.info("wrote %d records to %s", len(records), output)
    print(output)


if __name__ == "__main__":
    sys.exit(utils.run_cli(main))
