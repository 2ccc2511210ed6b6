"""Phase 1's examples: every row of a dataset template with a definite W becomes an `Example`
(`classify_rows`), and `sample` draws the run's examples, seeded."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from tqdm import tqdm

import utils

logger = logging.getLogger(__name__)


@dataclass
class Example:
    id: str
    w: bool | None  # None until the attribute judge decides it (a template with w_from_judge)
    question: str
    original: str
    cluster: str | None = None  # examples that share it are not independent (treatment_effects' clusters)


def classify_rows(template) -> tuple[list[Example], int]:
    """Every row with a definite W becomes an Example; rows W cannot be decided for are counted. A
    template whose W the judge decides gives every row, with W None."""
    examples, unclassified, seen = [], 0, set()
    desc = f"reading rows ({template.name})" if template.w_from_judge else f"classifying W ({template.name})"
    for index, row in enumerate(tqdm(template.load_rows(), desc=desc, unit="row")):
        w = None if template.w_from_judge else template.w_classifier(row)
        if w is None and not template.w_from_judge:
            unclassified += 1
            continue
        example_id = template.get_id(row, index)
        if example_id in seen:
            raise utils.RateError(f"dataset template '{template.name}' gives duplicate id '{example_id}'")
        seen.add(example_id)
        cluster = template.get_cluster(row) if template.get_cluster is not None else None
        examples.append(Example(example_id, None if w is None else bool(w), template.get_reward_question(row),
                                template.get_original_completion(row), None if cluster is None else str(cluster)))
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
