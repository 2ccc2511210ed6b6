"""Phase 1 of RATE: sample examples, classify the attribute W, rewrite each example twice.

For every sampled response y with attribute w, the rewriter produces the *rewrite* Re(y, 1-w) and
then the *rewritten rewrite* Re(Re(y, 1-w), w). Failed rewrites are recorded with a reason, never as
text. Templates that know their latent structure also add the oracle counterfactual of y.

Usage:
    python create_dataset.py --config config.yaml [--smoke_test=true] [--rewrites.n_examples=500]
    python create_dataset.py --config config.yaml --rewrites.dry_run=true   # requests, tokens, cost; sends nothing
    python create_dataset.py --config config.yaml --rewrites.backend=openai --rewrites.base_url=http://localhost:8000/v1

Backends (`rewrites.backend`): openai (concurrent chat completions), openai_batch (Batch API),
transformers (a local chat model), simulated (the offline demo). Every answer of a model is cached
under PROJECT_DIR/data/cache/, so rerunning after a crash sends only what had not finished.

Writes PROJECT_DIR/data/rewrites/<dataset>_dataset[_smoke_test]_<YYYYmmdd_HHMMSS>.jsonl and its
.meta.json sidecar (counts: failures by reason, rewrite efficacy, requests, tokens and cost), and
prints the output path.
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

REWRITE, REWRITTEN_REWRITE = "rewrite", "rewritten rewrite"


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
    """A seeded sample of n examples in dataset order. Smoke runs keep two examples of each W where
    the data have them (one is not enough for a standard error), swapping them in for randomly
    chosen examples of the other W."""
    if n >= len(examples):
        logger.info("asked for %d examples, %d available: taking all", n, len(examples))
        return list(examples)
    rng = random.Random(seed)
    chosen = set(rng.sample(range(len(examples)), n))
    if need_both_w:
        for w in (True, False):
            have = [i for i in chosen if examples[i].w == w]
            spare = [i for i, ex in enumerate(examples) if ex.w == w and i not in chosen]
            for _ in range(max(0, min(2, n // 2, len(have) + len(spare)) - len(have))):
                chosen.remove(rng.choice(sorted(i for i in chosen if examples[i].w != w)))
                chosen.add(spare.pop(rng.randrange(len(spare))))
    return [examples[i] for i in sorted(chosen)]


def first_requests(examples: list[Example], template) -> list[RewriteRequest]:
    return [RewriteRequest(f"{ex.id}:{REWRITE}", template.prompt_for(ex.original, not ex.w), ex.original, not ex.w)
            for ex in examples]


def rewrite_twice(examples: list[Example], template, backend) -> dict[str, dict]:
    """Both rewrite passes. The second pass only rewrites successful first rewrites."""
    first = backend.rewrite(first_requests(examples, template))
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
        completions[utils.ORACLE] = template.oracle_counterfactual(ex.original, not ex.w)
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
    for judged, success in (("rewrite judged", "rewrite flipped W"),
                            ("rewritten rewrite judged", "rewritten rewrite restored W")):
        if counts[judged]:
            counts[f"{success} share"] = round(counts[success] / counts[judged], 4)
    return {"examples": len(records), "w=1": counts.pop("w_original"), "w=0": counts.pop("w_counterfactual"),
            **dict(counts)}


def failure_reasons(records: list[dict]) -> dict:
    """How many rewrites failed for each reason (the part of the reason before any ':' detail)."""
    reasons = Counter(reason.split(":")[0] if not reason.startswith("refusal") else reason
                      for record in records for reason in record.get("failures", {}).values())
    return {f"failure reason: {reason}": n for reason, n in sorted(reasons.items())}


def dry_run(examples: list[Example], template, backend, backend_name: str) -> dict:
    """Requests, estimated tokens and cost of both passes; nothing is sent. The second pass rewrites
    rewrites that do not exist yet: where the first rewrite is cached its real text is used, elsewhere
    the original stands in for it (a rewrite is about as long as its original)."""
    first = first_requests(examples, template)
    if not hasattr(backend, "estimate"):
        return {"backend": backend_name, "requests": 2 * len(first), "to_send": 0, "cached": 0, "input_tokens": 0,
                "output_tokens": 0, "cost_usd": 0.0}
    done = backend.cached_results(first)
    second = []
    for ex, request in zip(examples, first):
        result = done.get(request.custom_id)
        text = result.text if result is not None and result.ok else ex.original
        second.append(RewriteRequest(f"{ex.id}:{REWRITTEN_REWRITE}", template.prompt_for(text, ex.w), text, ex.w))
    one, two = backend.estimate(first), backend.estimate(second)
    total = {key: one[key] + two[key] for key in ("requests", "to_send", "cached", "input_tokens", "output_tokens")}
    total["cost_usd"] = backend.price(total["input_tokens"], total["output_tokens"])
    return {"backend": backend_name, **total}


def print_dry_run(plan: dict, model: str, batch: bool) -> None:
    cost = plan["cost_usd"]
    if cost is None:
        priced = f"unknown (no price for model '{model}' in rewriters/_pricing.py)"
    else:
        priced = f"${cost:,.2f}" + (" (Batch API price, 50% off)" if batch else "")
    print(f"dry run: backend {plan['backend']}, model {model}\n"
          f"  requests:                {plan['requests']:,} ({plan['cached']:,} answered from the cache, "
          f"{plan['to_send']:,} to send)\n"
          f"  estimated input tokens:  {plan['input_tokens']:,}\n"
          f"  estimated output tokens: {plan['output_tokens']:,}\n"
          f"  estimated cost:          {priced}\n"
          f"nothing was sent")


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    section = cfg["rewrites"]

    template = utils.build_from_module("dataset_templates", section["dataset_name"], "rewrites.dataset_name",
                                       "rewrites.template_options", cfg)
    backend_name = section["backend"] or template.backend
    model = section["model"] or template.model
    temperature = section["temperature"] if section["temperature"] is not None else template.temperature
    try:
        backend = utils.build_from_module("rewriters", backend_name, "rewrites.backend", "rewrites.backend_options",
                                          cfg, template, model, temperature, section["seed"], dict(section))
    except utils.RateError as exc:
        if getattr(exc, "key", None):  # a backend's complaint about one setting: name the file it came from
            raise utils.RateError(f"{cfg.source(exc.key)}: {exc}") from None
        raise
    logger.info("dataset template %s, rewriter backend %s (model %s, temperature %s)",
                template.name, backend_name, model, temperature)

    examples, unclassified = classify_rows(template)
    if not examples:
        raise utils.RateError(f"dataset template '{template.name}' yielded no example with a definite W")
    n = section["smoke_test_examples"] if cfg.smoke else (section["n_examples"] or template.n_examples)
    chosen = sample(examples, n, section["seed"], need_both_w=cfg.smoke)
    logger.info("%d rows classified (%d skipped: W undecided); sampled %d", len(examples), unclassified, len(chosen))

    if section["dry_run"]:
        plan = dry_run(chosen, template, backend, backend_name)
        logger.info("dry run: %s", plan)
        print_dry_run(plan, model, getattr(backend, "batch", False))
        return

    if template.classify_text is not None:
        # The efficacy check may load a classifier; fail before paying for rewrites, not after.
        template.classify_text(chosen[0].original)
    results = rewrite_twice(chosen, template, backend)
    records = [make_record(ex, results, template) for ex in chosen]
    counts = {"rows_classified": len(examples), "rows_unclassified": unclassified, **count_outcomes(records, template),
              **failure_reasons(records)}
    if hasattr(backend, "summary"):
        counts.update({f"api {key}": value for key, value in backend.summary().items()})
    for judged, success in (("rewrite judged", "rewrite flipped W"), ("rewritten rewrite judged", "rewritten rewrite restored W")):
        if counts.get(judged):
            logger.info("rewrite efficacy: %s in %d of %d judged (%.1f%%)", success, counts[success], counts[judged],
                        100 * counts[f"{success} share"])

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
