"""The record: one line of a rewrites or scored file, from phase 1 to phase 4, and its vocabulary.

Phase 1 builds it (dataset_templates/_rewrites.make_record, then the judge's verdicts), phase 2
validates it (`validate`) and adds one dict of rewards per model, phase 3's reader derives its typed
structs from `Record` (estimation/reader.py), and phase 4 draws its samples from it. Every module
names a completion by the constants here: a record keeps the original code's keys, so files move both
ways between this project and the original, and a key spelled twice is a key that can drift.

Importing this module imports nothing beyond the standard library: phase 1's `--help` reads it.
"""

# no `from __future__ import annotations`: TypedDict tells a NotRequired field only by its evaluated annotation
from typing import Any, NotRequired, Optional, TypedDict

from utils.errors import RateError

ORIGINAL, REWRITE, REWRITTEN_REWRITE = "original", "rewrite", "rewritten rewrite"
# what every record holds a text (or a failed rewrite's null) for, judges and rewards, in this order
COMPLETIONS = (ORIGINAL, REWRITE, REWRITTEN_REWRITE)
REWRITES = COMPLETIONS[1:]
# The completion key of the oracle counterfactual (simulated data only): written by phase 1, scored like
# any completion, and read by phase 3 as the truth.
ORACLE = "oracle counterfactual"
# completion -> the effects key that names the record's key for it, where a config renamed them
REWARD_KEYS = {ORIGINAL: "w_original_key", REWRITE: "w_counterfactual_key",
               REWRITTEN_REWRITE: "w_rewritten_rewrite_key"}


class Verdict(TypedDict):
    """The judge's verdict on one completion (judges.Verdict.as_record)."""

    w: Optional[bool]
    confidence: Optional[float]
    by: str
    failure: NotRequired[str]


class Record(TypedDict):
    """One example. Besides these fields, a scored record holds one dict per reward model under its
    reward key (completion key -> reward), so any other key that holds a dict is a model's rewards."""

    id: str
    w_original: bool
    reward_question: str
    completions: dict[str, Optional[str]]  # COMPLETIONS, and ORACLE where the template has one
    cluster: NotRequired[str]
    failures: NotRequired[dict[str, str]]  # rewrite key -> why it failed
    judge: NotRequired[dict[str, Verdict]]  # completion key -> the verdict on it
    changes: NotRequired[dict[str, float]]  # judges/changes.py
    # reward key -> completion key -> why that text has no reward (its reward is null): phase 2
    reward_failures: NotRequired[dict[str, dict[str, str]]]


# every field a record's own code gives it; no reward key can be one of them
FIELDS = tuple(Record.__annotations__)


def request_id(example_id: str, key: str) -> str:
    """The custom id of the request for one completion of one example (a rewrite, or the judge's verdict)."""
    return f"{example_id}:{key}"


def reward_keys(settings) -> dict[str, str]:
    """Completion -> the record's key for it, from an effects config section or an effects file (which
    repeats the section's keys); a key not set is the completion's own name."""
    return {name: settings.get(option, name) for name, option in REWARD_KEYS.items()}


def record_w(record: dict):
    """A record's W: a JSON boolean, or 0/1 as the original code's files may store it; else None."""
    w = record.get("w_original")
    if isinstance(w, bool):
        return w
    return bool(w) if isinstance(w, int) and w in (0, 1) else None


def verdict(record: dict, key: str) -> Any:
    """The judge's `w` on one completion of a record; None where it has none."""
    judge = record.get("judge")
    entry = judge.get(key) if isinstance(judge, dict) else None
    return entry.get("w") if isinstance(entry, dict) else None


def _both(w, rewrite, back):
    # Compared by equality, so that a judge's 1 counts as True and its 0 as False: in a record's values
    # as in the verdict codes of columns (1 and 0 where the verdict equals True and False).
    return (rewrite == 1 - w) & (back == w)


def passed(found):
    """Whether both rewrites passed the judge: the rewrite judged to have 1 - W, the rewritten rewrite
    W again. `found` is one record (a dict: True or False, None where it has no W or no judge) or the
    columns of many (estimation/columns.ScoredColumns, or anything with its `w` codes, `judged` mask
    and `verdict` codes per completion: a bool array, false where there is no W or no judge)."""
    if isinstance(found, dict):
        w = record_w(found)
        if w is None or not isinstance(found.get("judge"), dict):
            return None
        return bool(_both(int(w), verdict(found, REWRITE), verdict(found, REWRITTEN_REWRITE)))
    w = found.w
    return found.judged & (w >= 0) & _both(w, found.verdict[REWRITE], found.verdict[REWRITTEN_REWRITE])


def validate(records: list[dict], path) -> None:
    """What phase 2 needs of every record before it scores any: a text (or a failed rewrite's null) per
    completion, the original's among them, a reward question, a W, and an id no other record has."""
    if not records:
        raise RateError(f"{path}: holds no records; there is nothing to score")
    seen: set = set()
    for number, record in enumerate(records, 1):
        if not isinstance(record.get("completions"), dict) or ORIGINAL not in record["completions"]:
            raise RateError(f"{path}: record {number} (id {record.get('id')!r}) has no completions.{ORIGINAL}")
        if not isinstance(record.get("reward_question"), str):
            raise RateError(f"{path}: record {number} (id {record.get('id')!r}) has no reward_question "
                            "(the prompt the reward model sees) that is text")
        for key, text in record["completions"].items():
            if text is not None and not isinstance(text, str):
                raise RateError(f"{path}: record {number} (id {record.get('id')!r}): completions.{key} is "
                                f"{type(text).__name__}, not text or null")
        if record_w(record) is None:
            raise RateError(f"{path}: record {number} (id {record.get('id')!r}) has no w_original that is a "
                            "boolean or 0/1")
        check_reward_failures(record, number, path)
        if "id" in record:
            if record["id"] in seen:
                raise RateError(f"{path}: record {number} repeats id {record['id']!r}")
            seen.add(record["id"])


def check_reward_failures(record: dict, number: int, path) -> None:
    """`reward_failures`, where a record has it: reward key -> completion key -> a reason, each a
    completion of the record whose reward under that key is null."""
    lost = record.get("reward_failures")
    if lost is None:
        return
    where = f"{path}: record {number} (id {record.get('id')!r}): reward_failures"
    if not isinstance(lost, dict):
        raise RateError(f"{where} is {type(lost).__name__}, not a mapping of reward key to failures")
    for reward_key, failures in lost.items():
        if not isinstance(failures, dict) or not all(isinstance(r, str) and r for r in failures.values()):
            raise RateError(f"{where}.{reward_key} must map completion keys to reasons (text)")
        rewards = record.get(reward_key)
        for key in failures:
            if key not in record["completions"]:
                raise RateError(f"{where}.{reward_key} names {key!r}, which is no completion of the record")
            if isinstance(rewards, dict) and rewards.get(key) is not None:
                raise RateError(f"{where}.{reward_key}.{key} is a failure, but the record has a reward there")
