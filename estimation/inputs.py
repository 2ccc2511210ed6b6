"""Inputs of treatment_effects.py: which scored files, which reward keys, and the reward arrays of the
usable examples, with every dropped example counted by reason. No statistics here.

A run may read several files (`effects.dataset_filename` a list of `latest` and paths) and several
reward models (`effects.reward_key` a list); each file gets every listed key it holds.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

import utils

logger = logging.getLogger(__name__)

ORACLE = utils.ORACLE
NOT_REWARDS = ("completions", "failures", "judge", "changes")


def as_list(value, dotted: str, cfg) -> list[str]:
    """A config value that may be one string or a list of strings, as a non-empty list."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise utils.RateError(f"{cfg.source(dotted)}: {dotted} must be a string or a non-empty list of strings, "
                              f"got {value!r}")
    return values


def resolve_sources(cfg, dataset: str, score: str) -> list[Path]:
    """The scored files of this run, each `latest` or a path, resolved as for one file."""
    section = cfg["effects"]
    # `rewrites`: the rewrites folder (files that already hold rewards); null or `scored`: the scored
    # folder; any other name: a subfolder of it, as in the original code (`typos`).
    folder = section["dataset_folder"]
    kind = "rewrites" if folder == "rewrites" else "scored"
    within = folder if folder not in (None, "rewrites", "scored") else None
    model = score if kind == "scored" else None
    names = as_list(section["dataset_filename"], "effects.dataset_filename", cfg)
    sources = [utils.artifacts.resolve(kind, name, "effects.dataset_filename", cfg, dataset, model, within=within)
               for name in names]
    repeated = sorted({str(p) for p in sources if sources.count(p) > 1})
    if repeated:
        raise utils.RateError(f"{cfg.source('effects.dataset_filename')}: effects.dataset_filename names "
                              f"{', '.join(repeated)} more than once")
    return sources


def reward_keys_in(records: list[dict], original_key: str) -> set[str]:
    """Keys of the per-model reward dicts: dicts holding a reward for the original completion."""
    return {k for r in records for k, v in r.items()
            if isinstance(v, dict) and k not in NOT_REWARDS and original_key in v}


def find_reward_keys(records: list[dict], wanted: str | list | None, original_key: str, path,
                     placebo: str | None = None) -> list[str]:
    """The reward keys to analyse in one file: the configured ones it holds, or its only one besides
    the placebo reward (effects.placebo_reward_key), which is analysed as a check of its own."""
    keys = reward_keys_in(records, original_key) - {placebo}
    if wanted is None:
        if len(keys) != 1:
            raise utils.RateError(f"{path}: set effects.reward_key, the file holds rewards under "
                                  f"{sorted(keys) or 'no key'}")
        return sorted(keys)
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    found = [key for key in wanted if key in keys]
    if not found:
        raise utils.RateError(f"{path}: no rewards under effects.reward_key {wanted if len(wanted) > 1 else repr(wanted[0])}"
                              f" (found: {sorted(keys)})")
    for key in wanted:
        if key not in keys:
            logger.info("%s holds no rewards under '%s'; that key is analysed in the other files only", path, key)
    return found


def check_completion_keys(records: list[dict], reward_key: str, keys: dict[str, str], path) -> None:
    """A completion key that no record has a reward for is a config mistake, not missing data."""
    seen = set().union(*((r.get(reward_key) or {}).keys() for r in records)) if records else set()
    names = {"original": "effects.w_original_key", "rewrite": "effects.w_counterfactual_key",
             "rewritten rewrite": "effects.w_rewritten_rewrite_key"}
    for name, key in keys.items():
        if name in names and key not in seen:
            raise utils.RateError(f"{path}: no record has a '{key}' reward under '{reward_key}' ({names[name]}); "
                                  f"rewards there: {sorted(seen)}")


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _group(w) -> str:
    return "W unknown" if w is None else f"W={int(w)}"


def reward_arrays(records: list[dict], reward_key: str, keys: dict[str, str],
                  keep: Callable[[dict], bool] | None = None, duplicate_ids: str = "error",
                  source=None) -> tuple[dict, Counter, dict]:
    """Arrays of W and of each reward in `keys` (array name -> completion key) over the examples that
    have a known W, no failed rewrite, every reward finite and, with `keep`, pass it (the
    effects.passed_judge_only selection); with them each kept example's id, reward question and
    `cluster` field (None where absent). Dropped examples are counted by reason, never silently; the
    first reason that applies is the one counted. Returns (arrays, dropped by reason, dropped by
    reason and W group).

    An id seen twice would count one example twice (n doubled, SE shrunk by sqrt 2): an error naming it,
    or with duplicate_ids = keep_first, its first record kept and the others dropped."""
    dropped: Counter = Counter()
    by_group: dict[str, Counter] = {}
    kept_w: list[bool] = []
    kept: dict[str, list[float]] = {name: [] for name in keys}
    ids, questions, clusters = [], [], []
    first_line: dict = {}

    def drop(reason: str, w) -> None:
        dropped[reason] += 1
        by_group.setdefault(reason, Counter())[_group(w)] += 1

    for line, record in enumerate(records, 1):
        w = utils.record_w(record)
        identifier = record.get("id")
        if identifier is not None:
            if identifier in first_line:
                if duplicate_ids != "keep_first":
                    raise utils.RateError(f"{source}: example id {identifier!r} appears twice (records "
                                          f"{first_line[identifier]} and {line}); each example must be counted once. "
                                          f"Set effects.duplicate_ids: keep_first to keep its first record")
                drop("duplicate id", w)
                continue
            first_line[identifier] = line
        if w is None:
            drop("W unknown", w)
            continue
        if record.get("failures"):
            drop("failed rewrite", w)
            continue
        if keep is not None and not keep(record):
            drop(f"rewrites did not both pass the judge (W={int(w)})", w)
            continue
        rewards = record.get(reward_key) or {}
        missing = [key for key in keys.values() if key not in rewards]
        if missing:
            drop(f"no reward for {', '.join(missing)}", w)
            continue
        bad = [key for key in keys.values() if not _finite(rewards[key])]
        if bad:
            drop(f"no finite reward for {', '.join(bad)}", w)
            continue
        kept_w.append(w)
        for name, key in keys.items():
            kept[name].append(float(rewards[key]))
        ids.append(identifier if identifier is not None else f"record {line}")
        questions.append(record.get("reward_question"))
        clusters.append(record.get("cluster"))
    arrays = {"w": np.asarray(kept_w, dtype=bool), **{n: np.asarray(v, dtype=float) for n, v in kept.items()},
              "ids": ids, "questions": questions, "cluster": clusters}
    return arrays, dropped, {reason: dict(counts) for reason, counts in by_group.items()}


# A reward question shared by more than this share of the examples is a fixed prompt ("Write a movie
# review: "), not a cluster: one cluster of nearly everything would leave no independent units.
FIXED_PROMPT_SHARE = 0.5


def cluster_labels(arrays: dict, cluster_key: str, source) -> tuple[list | None, dict]:
    """One cluster label per kept example, or None when the examples are taken as independent; and how
    the clusters were formed. effects.cluster_key: `none`; `cluster`: the records' `cluster` field (set
    by the dataset template), required of every example; `question`: examples with the same reward
    question; `auto`: the `cluster` field where any record has one, else the reward question, except
    that a question shared by more than FIXED_PROMPT_SHARE of the examples is a fixed prompt whose
    examples stay single."""
    ids, fields, questions = arrays["ids"], arrays["cluster"], arrays["questions"]
    if cluster_key == "none" or not ids:
        return None, {"rule": "effects.cluster_key: none (examples independent)"}
    if cluster_key == "cluster":
        missing = [i for i, v in zip(ids, fields) if v is None]
        if missing:
            raise utils.RateError(f"{source}: effects.cluster_key 'cluster': {len(missing)} examples have no "
                                  f"'cluster' field, the first {missing[0]!r}")
    if cluster_key == "cluster" or (cluster_key == "auto" and any(v is not None for v in fields)):
        labels = [f"cluster:{v}" if v is not None else f"id:{i}" for i, v in zip(ids, fields)]
        return labels, {"rule": "the records' 'cluster' field (set by the dataset template)"}
    counts = Counter(q for q in questions if q is not None)
    fixed = set() if cluster_key == "question" else {
        q for q, c in counts.items() if c > FIXED_PROMPT_SHARE * len(questions)}
    labels = [f"id:{i}" if q is None or q in fixed else f"question:{q}" for i, q in zip(ids, questions)]
    how = {"rule": "examples with the same reward question" + (
        "" if cluster_key == "question" else
        f"; a question shared by more than {FIXED_PROMPT_SHARE:.0%} of them is a fixed prompt, not a cluster")}
    if fixed:
        how["fixed_prompt"] = sorted(fixed)[0][:80]
    return labels, how


def rewrites_meta(path: Path) -> dict | None:
    """The sidecar of the rewrites file a scored (or rewrites) file comes from."""
    return utils.artifacts.upstream_meta(path, "create_dataset.py")


def upstream_dropped(path: Path) -> dict[str, int]:
    """What earlier phases left out before this file, read from the rewrites' sidecar: rows whose W
    the dataset template could not decide never become examples, so only create_dataset knows them."""
    unclassified = ((rewrites_meta(path) or {}).get("counts") or {}).get("rows_unclassified")
    return {"W undecided (rows skipped by create_dataset.py)": int(unclassified)} if unclassified else {}


def describe_source(path: Path, dataset: str, score: str) -> tuple[str, str]:
    """(dataset, model) of one input file in a run over several files: what its sidecar says it is,
    else the configured dataset and score with the file's name as the label."""
    artifact = utils.artifacts.identity(path)
    if artifact is not None:
        return artifact.dataset, score if score in artifact.models else (artifact.model or score)
    return Path(path).stem, score
