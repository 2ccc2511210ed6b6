"""Inputs of treatment_effects.py: which scored files, which reward keys, and the reward arrays of the
usable examples, with every dropped example counted by reason. No statistics here.

A run may read several files (`effects.dataset_filename` a list of `latest` and paths) and several
reward models (`effects.reward_key` a list); each file gets every listed key it holds.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np

from estimation.columns import ScoredColumns, ensure
import utils
from utils.record import ORACLE, ORIGINAL, REWARD_KEYS

logger = logging.getLogger(__name__)


def as_list(value) -> list[str]:
    """A config value that is one name or a list of names (the schema's `Names` checked it), as a list."""
    return value if isinstance(value, list) else [value]


def resolve_sources(cfg, dataset: str, score: str) -> list[Path]:
    """The scored files of this run, each `latest` or a path, resolved as for one file."""
    section = cfg["effects"]
    # `rewrites`: the rewrites folder (files that already hold rewards); null or `scored`: the scored
    # folder; any other name: a subfolder of it, as in the original code (`typos`).
    folder = section["dataset_folder"]
    kind = "rewrites" if folder == "rewrites" else "scored"
    within = folder if folder not in (None, "rewrites", "scored") else None
    model = score if kind == "scored" else None
    names = as_list(section["dataset_filename"])
    sources = [utils.artifacts.resolve(kind, name, "effects.dataset_filename", cfg, dataset, model, within=within)
               for name in names]
    repeated = sorted({str(p) for p in sources if sources.count(p) > 1})
    if repeated:
        raise utils.RateError(f"{cfg.source('effects.dataset_filename')}: effects.dataset_filename names "
                              f"{', '.join(repeated)} more than once")
    return sources


def as_columns(records, keys=None) -> ScoredColumns:
    """Records as columns (estimation/columns.py): phase 3 reads them so, tests may pass records."""
    required = tuple(keys.values()) if keys else (ORIGINAL,)
    return ensure(records, [k for k in required if k != ORACLE], [ORACLE])


def reward_keys_in(records, original_key: str) -> set[str]:
    """Keys of the per-model reward dicts: dicts holding a reward for the original completion."""
    return as_columns(records, {ORIGINAL: original_key}).reward_keys(original_key)


def find_reward_keys(records, wanted: str | list | None, original_key: str, path,
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


def check_completion_keys(records, reward_key: str, keys: dict[str, str], path) -> None:
    """A completion key that no record has a reward for is a config mistake, not missing data."""
    seen = as_columns(records, keys).seen(reward_key)
    for name, key in keys.items():
        if name in REWARD_KEYS and key not in seen:
            raise utils.RateError(f"{path}: no record has a '{key}' reward under '{reward_key}' "
                                  f"(effects.{REWARD_KEYS[name]}); rewards there: {sorted(seen)}")


def _group_counts(mask: np.ndarray, w: np.ndarray) -> dict[str, int]:
    counts = {}
    for code, group in ((1, "W=1"), (0, "W=0"), (-1, "W unknown")):
        count = int(np.count_nonzero(mask & (w == code)))
        if count:
            counts[group] = count
    return counts


def reward_arrays(records, reward_key: str, keys: dict[str, str], passed_judge_only: bool = False,
                  duplicate_ids: str = "error", source=None) -> tuple[dict, Counter, dict]:
    """Arrays of W and of each reward in `keys` (array name -> completion key) over the examples that
    have a known W, no failed rewrite, every reward finite and, with `passed_judge_only`, both rewrites
    passed the judge (the effects.passed_judge_only selection); with them each kept example's id and
    its reward question's and `cluster` field's codes (estimation/columns.py). Dropped examples are
    counted by reason, never silently; the first reason that applies is the one counted. Returns
    (arrays, dropped by reason, dropped by reason and W group).

    An id seen twice would count one example twice (n doubled, SE shrunk by sqrt 2): an error naming it,
    or with duplicate_ids = keep_first, its first record kept and the others dropped."""
    columns = as_columns(records, keys)
    n, w = columns.n, columns.w
    dropped: Counter = Counter()
    by_group: dict[str, dict] = {}
    undecided = np.ones(n, dtype=bool)  # no reason found yet

    def drop(reason: str, mask: np.ndarray) -> None:
        mask = mask & undecided
        count = int(np.count_nonzero(mask))
        if count:
            dropped[reason] += count
            by_group.setdefault(reason, {}).update(_group_counts(mask, w))
            undecided[mask] = False

    if columns.duplicates:
        if duplicate_ids != "keep_first":
            later = columns.duplicates[0]
            identifier = columns.ids[later]
            raise utils.RateError(f"{source}: example id {identifier!r} appears twice (records "
                                  f"{columns.ids.index(identifier) + 1} and {later + 1}); each example must be counted "
                                  f"once. Set effects.duplicate_ids: keep_first to keep its first record")
        repeated = np.zeros(n, dtype=bool)
        repeated[columns.duplicates] = True
        drop("duplicate id", repeated)
    drop("W unknown", w < 0)
    drop("failed rewrite", columns.failed)
    if passed_judge_only:
        for group in (1, 0):
            drop(f"rewrites did not both pass the judge (W={group})", (w == group) & ~columns.passed())
    rewards = {name: columns.rewards(reward_key, key) for name, key in keys.items()}
    # a record lacking several rewards is counted under all it lacks, as one reason
    for kind, test in (("no reward for", lambda values, missing: missing),
                       ("no finite reward for", lambda values, missing: np.isnan(values))):
        flags = {key: test(*rewards[name]) & undecided for name, key in keys.items()}
        combined = np.zeros(n, dtype=np.int64)
        for bit, key in enumerate(flags):
            combined |= flags[key].astype(np.int64) << bit
        for pattern in np.unique(combined[combined > 0]):
            names = [key for bit, key in enumerate(flags) if pattern >> bit & 1]
            drop(f"{kind} {', '.join(names)}", combined == pattern)
    kept = np.flatnonzero(undecided)
    # with every example kept, the columns themselves: a copy of each would be megabytes per million
    pick = (lambda values: values) if len(kept) == n else (lambda values: values[kept])
    arrays = {"w": pick(w) == 1, **{name: pick(rewards[name][0]) for name in keys},
              "ids": _kept_ids(columns.ids, kept),
              "question_codes": pick(columns.question_codes), "questions": columns.questions,
              "cluster_codes": pick(columns.cluster_codes), "clusters": columns.clusters}
    return arrays, dropped, by_group


def _kept_ids(ids: list, kept: np.ndarray) -> list:
    """The ids of the kept records; a record without one is named by its number."""
    if len(kept) == len(ids) and None not in ids:
        return ids  # every record kept: the list itself, not a copy of a million names
    return [ids[i] if ids[i] is not None else f"record {i + 1}" for i in kept.tolist()]


# A reward question shared by more than this share of the examples is a fixed prompt ("Write a movie
# review: "), not a cluster: one cluster of nearly everything would leave no independent units.
FIXED_PROMPT_SHARE = 0.5


def _labelled(codes: np.ndarray, values: list, prefix: str, keep: np.ndarray | None = None) -> np.ndarray:
    """Cluster codes from value codes, by the label each value has (f"{prefix}:{value}"); -1 where
    the example has none or `keep` is false, for `_singletons` to fill."""
    labels = {}
    by_value = np.array([labels.setdefault(f"{prefix}:{value}", len(labels)) for value in values] + [-1],
                        dtype=np.int64)
    out = by_value[codes]  # code -1 takes the appended -1
    if keep is not None:
        out[~keep] = -1
    return out


def _singletons(codes: np.ndarray) -> np.ndarray:
    """Every example without a cluster (-1) in a cluster of its own, after the shared ones."""
    codes = codes.copy()
    alone = codes < 0
    codes[alone] = (codes.max(initial=-1) + 1) + np.arange(int(alone.sum()))
    return codes


def cluster_labels(arrays: dict, cluster_key: str, source) -> tuple[np.ndarray | None, dict]:
    """One integer cluster label per kept example, or None when the examples are taken as independent;
    and how the clusters were formed. effects.cluster_key: `none`; `cluster`: the records' `cluster`
    field (set by the dataset template), required of every example; `question`: examples with the
    same reward question; `auto`: the `cluster` field where any record has one, else the reward
    question, except that a question shared by more than FIXED_PROMPT_SHARE of the examples is a
    fixed prompt whose examples stay single."""
    ids, fields, questions = arrays["ids"], arrays["cluster_codes"], arrays["question_codes"]
    if cluster_key == "none" or not len(ids):
        return None, {"rule": "effects.cluster_key: none (examples independent)"}
    if cluster_key == "cluster":
        missing = np.flatnonzero(fields < 0)
        if missing.size:
            raise utils.RateError(f"{source}: effects.cluster_key 'cluster': {missing.size} examples have no "
                                  f"'cluster' field, the first {ids[int(missing[0])]!r}")
    if cluster_key == "cluster" or (cluster_key == "auto" and (fields >= 0).any()):
        labels = _singletons(_labelled(fields, arrays["clusters"], "cluster"))
        return labels, {"rule": "the records' 'cluster' field (set by the dataset template)"}
    counts = np.bincount(questions[questions >= 0], minlength=len(arrays["questions"]))
    fixed = np.zeros(len(counts), dtype=bool) if cluster_key == "question" else counts > FIXED_PROMPT_SHARE * len(ids)
    labels = _singletons(_labelled(questions, arrays["questions"], "question",
                                   keep=(questions >= 0) & ~np.append(fixed, False)[questions]))
    how = {"rule": "examples with the same reward question" + (
        "" if cluster_key == "question" else
        f"; a question shared by more than {FIXED_PROMPT_SHARE:.0%} of them is a fixed prompt, not a cluster")}
    if fixed.any():
        how["fixed_prompt"] = sorted(str(arrays["questions"][i]) for i in np.flatnonzero(fixed))[0][:80]
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
