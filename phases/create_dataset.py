"""Phase 1 of RATE: sample examples, classify the attribute W, rewrite each example twice, and judge
whether the rewrites did what was asked.

For every sampled response y with attribute w, the rewriter produces the *rewrite* Re(y, 1-w) and
then the *rewritten rewrite* Re(Re(y, 1-w), w). Failed rewrites are recorded with a reason, never as
text. The attribute judge (`judge.method`: the template's rule, an LLM, or none; judges/) decides W
of the originals, the rewrites and the rewritten rewrites, and each record keeps its verdicts and how
much the rewriter changed besides W (length ratios, word similarity). Templates that know their
latent structure also add the oracle counterfactual of y.

Usage:
    python create_dataset.py --config config.yaml [--smoke_test=true] [--rewrites.n_examples=500]
    python create_dataset.py --config config.yaml --rewrites.dry_run=true   # requests, tokens, cost; sends nothing
    python create_dataset.py --config config.yaml --rewrites.backend=openai --rewrites.base_url=http://localhost:8000/v1
    python create_dataset.py --config config.yaml --judge.method=llm --judge.backend=openai --judge.model=gpt-4o-mini

Backends (`rewrites.backend`): openai (concurrent chat completions), openai_batch (Batch API),
transformers (a local chat model), simulated (the offline demo). Every answer of a model is cached
under PROJECT_DIR/data/cache/, so rerunning after a crash sends only what had not finished.

Writes PROJECT_DIR/data/rewrites/<dataset>_dataset[_smoke_test]_<stamp>.jsonl and its
.meta.json sidecar (counts: failures by reason, rewrite efficacy per direction, the judge's agreement
with the dataset's W, requests, tokens and cost of rewriter and judge), and prints the output path.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from typing import TYPE_CHECKING

import utils
from utils.record import ORIGINAL, REWRITE, REWRITES, REWRITTEN_REWRITE, request_id

if TYPE_CHECKING:
    from dataset_templates._sampling import Example

logger = logging.getLogger(__name__)

def judge_originals(judge, examples: list[Example], cfg) -> dict[str, dict]:
    """The judge's verdicts on the originals, by example id, before any rewrite is asked for: the
    judge may load a classifier, and its first requests try its endpoint, so either fails before
    anything is paid for rewrites. A judge that answers none of them stops the run."""
    judge.check(examples[0].original)
    if not cfg["judge"]["originals"]:
        return {}
    found = judge.judge([(ex.id, ex.original) for ex in examples], desc="judging W of the originals")
    unanswered = [v.failure for v in found.values() if (v.failure or "").startswith("judge request failed")]
    if len(unanswered) == len(found):
        raise utils.RateError(f"{cfg.source('judge.method')}: the judge answered none of the {len(found)} originals "
                              f"({unanswered[0]}); nothing was rewritten. Check judge.base_url and judge.model, or set "
                              "judge.method")
    return {key: verdict.as_record() for key, verdict in found.items()}


def judge_completions(judge, records: list[dict], keys: tuple[str, ...], desc: str) -> dict[str, dict]:
    """The judge's verdict on every completion under `keys` that exists, by example id and key."""
    items = [(request_id(r["id"], key), r["completions"][key]) for r in records for key in keys
             if r["completions"].get(key) is not None]
    found = judge.judge(items, desc=desc) if items else {}
    return {r["id"]: {key: found[request_id(r["id"], key)].as_record() for key in keys
                      if request_id(r["id"], key) in found} for r in records}


def with_verdicts(records: list[dict], originals: dict[str, dict], rewrites: dict[str, dict]) -> list[dict]:
    """The records with the judge's verdicts under "judge" (the original's first), where it gave any."""
    judged = []
    for record in records:
        verdicts = ({ORIGINAL: originals[record["id"]]} if record["id"] in originals else {}) | rewrites.get(
            record["id"], {})
        judged.append({**record, "judge": verdicts} if verdicts else record)
    return judged


def count_outcomes(records: list[dict]) -> dict:
    counts = Counter(w_original=0, w_counterfactual=0)
    for record in records:
        counts["w_original" if record["w_original"] else "w_counterfactual"] += 1
        for key, reason in record.get("failures", {}).items():
            counts[f"failed {key}"] += 1
        for key, found in (record.get("judge") or {}).items():
            counts[f"judge undecided on {key}"] += found["w"] is None
    return {"examples": len(records), "w=1": counts.pop("w_original"), "w=0": counts.pop("w_counterfactual"),
            **{key: value for key, value in counts.items() if value}}


def failure_reasons(records: list[dict]) -> dict:
    """How many rewrites failed for each reason (the part of the reason before any ':' detail)."""
    reasons = Counter(reason.split(":")[0] if not reason.startswith("refusal") else reason
                      for record in records for reason in record.get("failures", {}).values())
    return {f"failure reason: {reason}": n for reason, n in sorted(reasons.items())}


def check_some_rewrite_worked(records: list[dict]) -> None:
    """A dataset with no usable rewrite (a dead endpoint, a model that refuses everything) would become
    `latest` and feed the next phases nothing: stop instead, saying why the rewrites failed."""
    if any(record["completions"][REWRITE] is not None for record in records):
        return
    reasons = Counter(record.get("failures", {}).get(REWRITE, "no rewrite") for record in records)
    top = "; ".join(f"{n}× {reason[:160]}" for reason, n in reasons.most_common(2))
    raise utils.RateError(f"every one of the {len(records)} rewrites failed ({top}); no output was written. Answers "
                          "received are in the cache: fix the cause and rerun")


SUMMED = ("requests", "to_send", "cached", "input_tokens", "output_tokens")


def dry_run(examples: list[Example], template, backend, backend_name: str, judge, judge_originals: bool) -> dict:
    """Requests, estimated tokens and cost of both passes and of the judge; nothing is sent. The
    second pass rewrites rewrites that do not exist yet: where the first rewrite is cached its real
    text is used, elsewhere the original stands in for it (a rewrite is about as long as its
    original); the judge's texts are estimated the same way."""
    from dataset_templates._rewrites import first_requests, second_request

    first = first_requests(examples, template)
    plan: dict = {"backend": backend_name, "requests": 2 * len(first), "to_send": 0, "cached": 0, "input_tokens": 0,
                  "output_tokens": 0, "cost_usd": 0.0}
    made: dict[str, str] = {}  # example id -> its first rewrite, where the cache holds one
    if hasattr(backend, "estimate"):
        done = backend.cached_results(first)
        made = {ex.id: done[request.custom_id].text for ex, request in zip(examples, first)
                if request.custom_id in done and done[request.custom_id].ok}
        second = [second_request(ex, made.get(ex.id, ex.original), template) for ex in examples]
        one, two = backend.estimate(first), backend.estimate(second)
        plan.update({key: one[key] + two[key] for key in SUMMED})
        plan["cost_usd"] = backend.price(plan["input_tokens"], plan["output_tokens"])
    if judge is not None:
        # Texts that do not exist yet are judged by their stand-ins (the originals), all to be sent.
        known = [(request_id(ex.id, ORIGINAL), ex.original) for ex in examples] if judge_originals else []
        known += [(request_id(ex.id, REWRITE), made[ex.id]) for ex in examples if ex.id in made]
        guessed = [(request_id(ex.id, REWRITE), ex.original) for ex in examples if ex.id not in made]
        guessed += [(request_id(ex.id, REWRITTEN_REWRITE), ex.original) for ex in examples]
        plan["judge"] = judge.estimate(known, guessed)
    return plan


def _cost(cost, batch: bool, section: str) -> str:
    if cost is None:
        return f"no price (this model on this server; {section}.price_per_million_tokens: [input, output] prices it)"
    return f"${cost:,.2f}" + (" (Batch API price, 50% off)" if batch else "")


def print_dry_run(plan: dict, model: str, batch: bool, judge: dict | None) -> None:
    lines = [f"dry run: backend {plan['backend']}, model {model}",
             f"  requests:                {plan['requests']:,} ({plan['cached']:,} answered from the cache, "
             f"{plan['to_send']:,} to send)",
             f"  estimated input tokens:  {plan['input_tokens']:,}",
             f"  estimated output tokens: {plan['output_tokens']:,}",
             f"  estimated cost:          {_cost(plan['cost_usd'], batch, 'rewrites')}"]
    asked = plan.get("judge")
    if judge is not None and asked is None:
        lines.append(f"judge: {judge['method']} (the template's rule): no requests")
    elif asked is not None:
        lines += [f"judge: {judge['backend']}, model {judge['model']}",
                  f"  requests:                {asked['requests']:,} ({asked['cached']:,} answered from the cache, "
                  f"{asked['to_send']:,} to send)",
                  f"  estimated input tokens:  {asked['input_tokens']:,}",
                  f"  estimated output tokens: {asked['output_tokens']:,} (at most judge.max_tokens each)",
                  f"  estimated cost:          {_cost(asked['cost_usd'], judge['backend'] == 'openai_batch', 'judge')}"]
    print("\n".join(lines + ["nothing was sent"]))


def log_efficacy(result: dict, threshold: float, judge_name: str) -> None:
    from judges import efficacy as judge_efficacy

    agreement = result["agreement"]
    if agreement:
        logger.info("judge agreement with the dataset's W on the originals: %d of %d (%.1f%%)%s", agreement["agree"],
                    agreement["judged"], 100 * agreement["share"],
                    f", {agreement['undecided']} undecided" if agreement["undecided"] else "")
    for row in result["rows"]:
        if row["judged"]:
            logger.info("rewrite efficacy: %s", judge_efficacy.row_text(row))
    message = judge_efficacy.warning(result, threshold, judge_name)
    if message:
        logger.warning("%s", message)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What a config asks phase 1 to run: the template, the rewriter and the judge, each built and checked."""
    template: object
    backend: object
    backend_name: str
    model: str
    temperature: float | None
    judge: object | None

    @property
    def judge_info(self) -> dict:
        return self.judge.describe() if self.judge else {"method": "none"}

    def close(self) -> None:
        """Close what holds files open (the response cache of a backend or of the judge)."""
        for part in (self.backend, self.judge):
            if hasattr(part, "close"):
                part.close()


def build(cfg) -> Setup:
    import judges

    section = cfg["rewrites"]
    template = utils.build_from_module("dataset_templates", section["dataset_name"], "rewrites.dataset_name",
                                       "rewrites.template_options", cfg)
    backend_name = section["backend"] or template.backend
    model = section["model"] or template.model
    temperature = section["temperature"] if section["temperature"] is not None else template.temperature
    backend = utils.build_from_module("rewriters", backend_name, "rewrites.backend", "rewrites.backend_options",
                                      cfg, template, model, temperature, section["seed"], dict(section))
    logger.info("dataset template %s, rewriter backend %s (model %s, temperature %s)",
                template.name, backend_name, model, temperature)
    setup = Setup(template, backend, backend_name, model, temperature,
                  judges.build(cfg, template, backend, backend_name, model))
    logger.info("attribute judge: %s", setup.judge_info)
    return setup


def choose_examples(template, cfg) -> tuple[list[Example], int, int]:
    """The sampled examples, with how many rows had a definite W and how many had none. Where the
    judge decides W (`w_from_judge`), every row is a candidate and the sample's W is still None."""
    from dataset_templates._sampling import classify_rows, sample

    section = cfg["rewrites"]
    examples, unclassified = classify_rows(template)
    if not examples:
        raise utils.RateError(f"dataset template '{template.name}' yielded no example with a definite W")
    n = section["smoke_test_examples"] if cfg.smoke else (section["n_examples"] or template.n_examples)
    chosen = sample(examples, n, section["seed"], need_both_w=cfg.smoke and not template.w_from_judge)
    logger.info("%d rows %s (%d skipped: W undecided); sampled %d", len(examples),
                "read, W for the judge to decide" if template.w_from_judge else "classified", unclassified, len(chosen))
    return chosen, len(examples), unclassified


def decide_w(judge, chosen: list[Example], cfg) -> tuple[list[Example], int]:
    """W of each sampled original from the judge's verdict (a template with `w_from_judge`); the
    examples it leaves undecided are dropped, and counted."""
    if judge is None or judge.method != "llm":
        raise utils.RateError(f"{cfg.source('judge.method')}: dataset template 'custom' without "
                              "rewrites.template_options.w_field takes W from the attribute judge: set judge.method "
                              "llm (and judge.model, judge.base_url where the rewriter calls no model), or set w_field")
    judge.check(chosen[0].original)
    found = judge.judge([(ex.id, ex.original) for ex in chosen], desc="deciding W of the originals (judge)")
    decided = [dataclasses.replace(ex, w=found[ex.id].w) for ex in chosen if found[ex.id].w is not None]
    undecided = len(chosen) - len(decided)
    if not decided:
        reasons = Counter(v.failure for v in found.values())
        raise utils.RateError(f"the judge decided W for none of the {len(chosen)} sampled originals "
                              f"({reasons.most_common(1)[0][0]}); nothing was rewritten")
    logger.info("the judge decided W for %d of %d originals (W=1: %d, W=0: %d); %d undecided and skipped",
                len(decided), len(chosen), sum(ex.w for ex in decided), sum(not ex.w for ex in decided), undecided)
    return decided, undecided


def rewrite_and_judge(setup: Setup, chosen: list[Example], cfg) -> list[dict]:
    """Both rewrites of every example as records, with the judge's verdicts on all three texts. The
    originals are judged first: that tries the judge before anything is paid for rewrites."""
    from dataset_templates._rewrites import make_records

    # where the judge's verdicts on the originals are W, comparing them with W would measure nothing
    judged_w = setup.template.w_from_judge
    originals = judge_originals(setup.judge, chosen, cfg) if setup.judge is not None and not judged_w else {}
    records = make_records(chosen, setup.template, setup.backend)
    check_some_rewrite_worked(records)
    rewrites = (judge_completions(setup.judge, records, REWRITES, desc="judging W of the rewrites")
                if setup.judge is not None else {})
    return with_verdicts(records, originals, rewrites)


def run_counts(setup: Setup, records: list[dict], efficacy: dict, classified: int, unclassified: int,
               undecided_by_judge: int | None = None) -> dict:
    from judges import efficacy as judge_efficacy

    counts = {"rows_classified": classified, "rows_unclassified": unclassified,
              **({} if undecided_by_judge is None else {"originals undecided by the judge (skipped)": undecided_by_judge}),
              **count_outcomes(records),
              **failure_reasons(records), **judge_efficacy.counts(efficacy)}
    if hasattr(setup.backend, "summary"):
        counts.update({f"api {key}": value for key, value in setup.backend.summary().items()})
    if setup.judge is not None:
        counts.update({f"judge api {key}": value for key, value in setup.judge.summary().items()})
    return counts


def failed_line(counts: dict) -> str:
    reasons = ", ".join(f"{n} {k.removeprefix('failure reason: ')}" for k, n in counts.items()
                        if k.startswith("failure reason: "))
    failed = [f"{counts[f'failed {key}']} {key}s" for key in REWRITES if counts.get(f"failed {key}")]
    return f"{' and '.join(failed)} ({reasons})" if failed else "none"


def main(argv: list[str] | None = None) -> None:
    cfg, started = utils.start(argv, __doc__)
    setup = build(cfg)
    try:
        output = run(setup, cfg, started)
    finally:
        setup.close()
    if output is not None:
        print(output)


def run(setup: Setup, cfg, started: str):
    """Phase 1 with what `build` made: the rewrites file's path, or None for a dry run."""
    from judges import changes as judge_changes
    from judges import efficacy as judge_efficacy

    section, template = cfg["rewrites"], setup.template

    # One run at a time for a dataset in a PROJECT_DIR: a second would pay for the same requests again.
    # A dry run sends nothing and writes nothing, so it takes no lock.
    with utils.exclusive(f"create_dataset-{template.name}{utils.smoke_mark(cfg.smoke)}",
                         f"the {'smoke-test ' if cfg.smoke else ''}rewrites of '{template.name}'",
                         enabled=not section["dry_run"]):
        chosen, classified, unclassified = choose_examples(template, cfg)
        if section["dry_run"]:
            # a W the judge decides is not known before it is asked: the rewrites are estimated as if
            # every original were W=0, and the judge asked about every original
            estimate = dry_run(chosen, template, setup.backend, setup.backend_name, setup.judge,
                               cfg["judge"]["originals"] or template.w_from_judge)
            logger.info("dry run: %s", estimate)
            print_dry_run(estimate, setup.model, getattr(setup.backend, "batch", False),
                          setup.judge_info if setup.judge else None)
            return None

        undecided = None
        if template.w_from_judge:
            chosen, undecided = decide_w(setup.judge, chosen, cfg)
        records = rewrite_and_judge(setup, chosen, cfg)
        efficacy = judge_efficacy.efficacy(records)
        counts = run_counts(setup, records, efficacy, classified, unclassified, undecided)
        if setup.judge is not None:
            log_efficacy(efficacy, cfg["effects"]["min_efficacy"],
                         setup.judge_info.get("model") or setup.judge_info["method"])

        reserved = utils.artifacts.new_path(utils.artifacts.of(cfg, "rewrites", template.name), "jsonl")
        output = reserved.path
        utils.write_output(output, lambda path: utils.write_jsonl(path, records), script="create_dataset.py", cfg=cfg,
                           started_at=started, counts=counts, artifact=reserved.artifact,
                           templates={"dataset": template.name, "backend": setup.backend_name, "model": setup.model,
                                      "temperature": setup.temperature, "judge": setup.judge_info},
                           extra={"efficacy": efficacy, "changes": judge_changes.summary(records)})
        logger.debug("counts: %s", counts)
        utils.log_summary(logger, f"{classified + unclassified} rows of {template.name}, {len(chosen)} sampled",
                          f"{output} ({len(records)} records)", failed_line(counts))
    return output
