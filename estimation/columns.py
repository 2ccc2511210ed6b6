"""A scored file read once into columns: what treatment_effects.py needs of every record, and nothing else.

Phase 3 reads rewards and verdicts, never texts. Holding every parsed record as a dict costs
gigabytes at a million records, and passes over them in Python cost more than parsing them
(docs/performance.md has the measurements). Here records are taken
apart in chunks: a reader (estimation/reader.py, or `build` for records already parsed) lists each
field over a chunk, and `Builder.add` turns each list into a numpy column at once, so that the work
per record left in Python is a few list comprehensions. estimation/inputs.py and estimation/gate.py
then work on the columns with numpy masks.

Encodings, chosen so that the dropping rules of estimation/inputs.reward_arrays keep their order and
their reasons:
  w          1, 0, or -1 when the record has no usable W (utils.record_w)
  verdict    per judged completion, the judge's `w`: 1 / 0 where it equals True / False (as
             judges/efficacy.py compares them), -1 where the judge's entry has no verdict, -2 where
             there is no entry, 2 for any other value
  rewards    per reward key and completion key a float64 column, NaN where there is no finite number,
             and a `missing` mask for the records that have no reward there at all
  questions, clusters   integer codes into a list of the distinct values (-1: none), so a prompt shared
             by a million examples is held once
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from judges import efficacy as judge_efficacy
from utils.record import COMPLETIONS, FIELDS, ORIGINAL, REWRITES, passed

try:  # the typed reader's "field not in this record"; the dict reader uses the same marker
    from msgspec import UNSET as ABSENT
except ModuleNotFoundError:  # pragma: no cover - the light install has msgspec
    ABSENT = object()

NOT_REWARDS = frozenset(FIELDS)  # any other key that holds a dict holds a model's rewards
NO_ENTRY, NO_VERDICT = -2, -1  # and 2 for any other verdict (judges/efficacy.verdict_code)
CHUNK = 1 << 16  # records per chunk: lists of this length cost a few MB
# bool keys first: True == 1 == 1.0 hash alike, so 1 and 1.0 find True's code, as equality would
_VERDICTS = {True: 1, False: 0, None: NO_VERDICT, ABSENT: NO_ENTRY}
_W = {True: 1, False: 0}
_ABSENT_HASH = hash(ABSENT)


def verdict_code(found) -> int:
    """The code of one judge's `w` (the slow path of `_verdict_codes`)."""
    return NO_ENTRY if found is ABSENT else judge_efficacy.verdict_code(found)


def _bits(values: list) -> np.ndarray | None:
    """Values that are all 0 or 1 (bools, or integers equal to them) as int8, in one C loop (bytes()
    takes integers from 0 to 255 and refuses any other value); None where some value is anything else."""
    try:
        codes = np.frombuffer(bytes(values), dtype=np.uint8)
    except (TypeError, ValueError):
        return None
    return codes.view(np.int8) if codes.max(initial=0) <= 1 else None


def _flags(values: list) -> np.ndarray:
    """A list of bools as a bool column."""
    return np.frombuffer(bytes(values), dtype=bool)


def _verdict_codes(found: list) -> np.ndarray:
    codes = _bits(found)  # True and 1 code 1, False and 0 code 0, as the slow path below codes them
    if codes is not None:
        return codes
    try:
        codes = list(map(_VERDICTS.get, found))
    except TypeError:  # an unhashable verdict
        codes = [None]
    if None in codes:
        codes = [verdict_code(value) for value in found]
    return np.array(codes, dtype=np.int8)


def _w_codes(values: list, typed: bool = False) -> np.ndarray:
    # decoded JSON holds no numpy integer, which bytes() would take as an int (record_w does not)
    codes = _bits(values) if typed else None
    if codes is not None:
        return codes
    if set(map(type, values)) <= {bool}:
        return np.array(values, dtype=np.int8)
    # utils.record_w: a bool, or 0/1 as an int (not 1.0: a float is no label)
    return np.array([_W[v] if type(v) is bool or (type(v) is int and v in (0, 1)) else -1 for v in values],
                    dtype=np.int8)


def _number(value) -> float:
    """A reward as a float: NaN for what is not an int or a float (bools included), inf beyond range."""
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf
    return math.nan


def _rewards(values: list, typed: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """(floats, missing) of one completion key's rewards over a chunk, NaN where not a finite number;
    None where no record of the chunk has a reward there (the oracle's key, in real data). `typed`:
    every value is a float or ABSENT (the typed reader's), so numpy may take them without a look at
    each value's type."""
    if values and values[0] is ABSENT and values.count(ABSENT) == len(values):
        return None
    floats, missing = None, np.zeros(len(values), dtype=bool)
    if typed and values and values[0] is not ABSENT:
        try:
            floats = np.fromiter(values, dtype=np.float64, count=len(values))
        except TypeError:  # an ABSENT among them
            pass
    if floats is None:
        if set(map(type, values)) <= {float}:
            floats = np.array(values, dtype=np.float64)
        else:
            missing = np.array([value is ABSENT for value in values], dtype=bool)
            floats = np.array([_number(value) for value in values], dtype=np.float64)
    floats[~np.isfinite(floats)] = np.nan
    return floats, missing


@dataclass
class Chunk:
    """One field per attribute, listed over a run of records (ABSENT where a record lacks it);
    `rewards`: reward key -> (positions in the chunk of the records holding its dict, their values
    per listed completion key, the other completion keys they hold)."""

    ids: list
    w: list
    failures: list
    judged: list
    verdicts: tuple  # three lists, COMPLETIONS' order; any value where `judged` is false
    written: tuple   # two lists of bools, REWRITES' order
    questions: list
    clusters: list
    rewards: dict = field(default_factory=dict)
    typed: bool = False  # by the typed reader: values as decoded from JSON, every reward a float or ABSENT


@dataclass
class RewardColumn:
    """The rewards of one model (one reward key), per listed completion key: values and missing, held
    only for a key the run analyses (`kept`); of any other only which completion keys it rewards."""

    listed: tuple
    kept: bool = True
    parts: list = field(default_factory=list)  # (rows: indices or a slice, {key: (floats, missing) or None}) per chunk
    seen: set = field(default_factory=set)     # completion keys that some record rewards

    joined: dict = field(default_factory=dict)  # completion key -> (values, missing) over all records

    def column(self, key: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Joined on first use, and its chunks let go: the columns are not held twice."""
        if key not in self.joined:
            values, missing = np.full(n, np.nan), np.ones(n, dtype=bool)
            for rows, found in self.parts:
                part = found.pop(key)
                if part is not None:
                    values[rows], missing[rows] = part
            self.joined[key] = values, missing
        return self.joined[key]

    def keys_seen(self) -> set[str]:
        """Every completion key that some record rewards."""
        return set(self.seen)


@dataclass
class ScoredColumns:
    n: int
    ids: list
    w: np.ndarray
    failed: np.ndarray
    judged: np.ndarray
    verdict: dict
    written: dict
    question_codes: np.ndarray
    questions: list
    cluster_codes: np.ndarray
    clusters: list
    duplicates: list  # indices of the records whose id an earlier record has, in file order
    reward_columns: dict

    def __len__(self) -> int:
        return self.n

    def reward_keys(self, original_key: str) -> set[str]:
        """Keys of the per-model reward dicts that hold a reward for the original completion."""
        return {key for key, column in self.reward_columns.items() if original_key in column.keys_seen()}

    def seen(self, reward_key: str) -> set[str]:
        column = self.reward_columns.get(reward_key)
        return column.keys_seen() if column else set()

    def rewards(self, reward_key: str, completion_key: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, missing) of one reward over all records: NaN values where not a finite number."""
        column = self.reward_columns.get(reward_key)
        if column is None or completion_key not in column.listed:
            return np.full(self.n, np.nan), np.ones(self.n, dtype=bool)
        return column.column(completion_key, self.n)

    def efficacy(self) -> dict:
        """judges/efficacy.efficacy of these records."""
        listed = self.judged & (self.verdict[ORIGINAL] != NO_ENTRY)
        return judge_efficacy.efficacy_of(self, listed)

    def has_verdicts(self) -> bool:
        return bool(self.judged.any())

    def passed(self) -> np.ndarray:
        """Whether both rewrites passed the judge (utils.record.passed) per record; false without W."""
        return passed(self)


class Builder:
    """The growing columns: `add` one Chunk after another, then `finish`."""

    def __init__(self, required: Iterable[str], optional: Iterable[str] = (), wanted: Iterable[str] | None = None):
        self.listed = tuple(dict.fromkeys((*required, *optional)))
        self.wanted = None if wanted is None else set(wanted)
        self.n = 0
        self.ids: list = []
        # the hash of each id (`_repeated`), in one buffer: a small array per chunk, all let go at
        # the end, had left megabytes of the heap that the process never gave back
        self.id_hashes = array("q")
        self.parts: list = []
        # None and ABSENT code as -1, and are no value of the list
        self.question_index: dict = {None: -1, ABSENT: -1}
        self.cluster_index: dict = {None: -1, ABSENT: -1}
        self.columns: dict[str, RewardColumn] = {}

    def _ids(self, ids: list) -> list:
        """A chunk's ids, ABSENT as None; their hashes are kept for `_repeated`."""
        hashes = np.fromiter(map(hash, ids), dtype=np.int64, count=len(ids))
        self.id_hashes.frombytes(hashes.tobytes())
        if (hashes == _ABSENT_HASH).any():
            ids = [None if i is ABSENT else i for i in ids]
        return ids

    def _repeated(self) -> list:
        """The records whose id an earlier record has, in file order. Equal ids hash alike, so only
        records whose hash another shares can be one: sorting the hashes finds them all at once, where
        a set of a million ids had been probed record by record, a cache miss each."""
        hashes = np.frombuffer(self.id_hashes, dtype=np.int64)
        ranked = np.sort(hashes)
        shared = ranked[1:][ranked[1:] == ranked[:-1]]
        seen: set = set()
        repeated = []
        for position in np.flatnonzero(np.isin(hashes, shared)).tolist() if shared.size else []:
            identifier = self.ids[position]
            if identifier is None:
                continue
            if identifier in seen:
                repeated.append(position)
            else:
                seen.add(identifier)
        return repeated

    @staticmethod
    def _codes(values: list, index: dict) -> np.ndarray:
        first = values[0]
        if values.count(first) == len(values):  # one value throughout: a fixed prompt, no clusters
            if first not in index:
                index[first] = len(index) - 2
            return np.full(len(values), index[first], dtype=np.int32)
        for value in dict.fromkeys(values):
            if value not in index:
                index[value] = len(index) - 2
        return np.fromiter(map(index.__getitem__, values), dtype=np.int32, count=len(values))

    def add(self, chunk: Chunk) -> None:
        count = len(chunk.ids)
        if not count:
            return
        self.ids.extend(self._ids(chunk.ids))
        judged = _flags(chunk.judged)
        every = judged.all()
        verdicts = {key: codes if every else np.where(judged, codes, NO_ENTRY).astype(np.int8)
                    for key, codes in zip(COMPLETIONS, map(_verdict_codes, chunk.verdicts))}
        # no failures field (ABSENT, falsy) in any record is the common case, and one C loop to tell
        failed = np.zeros(count, dtype=bool) if chunk.failures.count(ABSENT) == count else \
            np.frombuffer(bytes(map(bool, chunk.failures)), dtype=bool)
        self.parts.append({
            "w": _w_codes(chunk.w, chunk.typed), "failed": failed, "judged": judged, "verdict": verdicts,
            "written": {key: _flags(flags) for key, flags in zip(REWRITES, chunk.written)},
            "question_codes": self._codes(chunk.questions, self.question_index),
            "cluster_codes": self._codes(chunk.clusters, self.cluster_index)})
        for key, (positions, values, others) in chunk.rewards.items():
            column = self.column(key)
            column.seen |= others
            if not column.kept:
                column.seen.update(name for name, found in zip(self.listed, values)
                                   if found is not None and found.count(ABSENT) < len(found))
                continue
            # a chunk whose every record holds the dict: a slice, not eight bytes per record
            rows = slice(self.n, self.n + count) if positions == range(count) else \
                self.n + np.asarray(positions, dtype=np.int64)
            found = {name: _rewards(found, chunk.typed) for name, found in zip(self.listed, values)}
            column.seen.update(name for name, part in found.items() if part is not None and not part[1].all())
            column.parts.append((rows, found))
        self.n += count

    def column(self, key: str) -> RewardColumn:
        column = self.columns.get(key)
        if column is None:
            column = self.columns[key] = RewardColumn(self.listed, self.wanted is None or key in self.wanted)
        return column

    def needed(self, key: str) -> list[bool]:
        """Which listed completion keys a reader must list values of for `key`: all of a key the run
        analyses; of any other, the ones not yet seen (it is only asked which it rewards)."""
        column = self.column(key)
        return [True] * len(self.listed) if column.kept else [name not in column.seen for name in self.listed]

    def finish(self) -> ScoredColumns:
        parts = self.parts

        def joined(name: str, key: str | None = None, dtype=np.int8) -> np.ndarray:
            pieces = [part[name] if key is None else part[name][key] for part in parts]
            return np.concatenate(pieces) if pieces else np.zeros(0, dtype)

        return ScoredColumns(
            n=self.n, ids=self.ids, w=joined("w"), failed=joined("failed", dtype=bool),
            judged=joined("judged", dtype=bool), verdict={key: joined("verdict", key) for key in COMPLETIONS},
            written={key: joined("written", key, bool) for key in REWRITES},
            question_codes=joined("question_codes", dtype=np.int32), questions=list(self.question_index)[2:],
            cluster_codes=joined("cluster_codes", dtype=np.int32), clusters=list(self.cluster_index)[2:],
            duplicates=self._repeated(), reward_columns=self.columns)


def dict_chunk(records: list[dict], listed: tuple) -> Chunk:
    """A Chunk of records parsed as dicts."""
    get = [record.get for record in records]
    judges = [g("judge") for g in get]
    judged = [type(judge) is dict for judge in judges]
    entries = [[(judge.get(key, ABSENT) if ok else None) for judge, ok in zip(judges, judged)] for key in COMPLETIONS]
    # an entry that is null or no dict has no verdict; one that is absent has no entry
    verdicts = tuple([entry if entry is ABSENT else entry.get("w") if type(entry) is dict else None
                      for entry in column] for column in entries)
    completions = [g("completions") for g in get]
    written = tuple([type(c) is dict and c.get(key) is not None for c in completions] for key in REWRITES)
    rewards: dict = {}
    for position, record in enumerate(records):
        for key, found in record.items():
            if type(found) is dict and key not in NOT_REWARDS:
                rewards.setdefault(key, []).append((position, found))
    reward_lists = {}
    for key, held in rewards.items():
        dicts = [found for _, found in held]
        reward_lists[key] = ([position for position, _ in held],
                             [[found.get(name, ABSENT) for found in dicts] for name in listed],
                             set().union(*dicts) - set(listed))
    return Chunk(ids=[g("id") for g in get], w=[g("w_original") for g in get], failures=[g("failures") for g in get],
                 judged=judged, verdicts=verdicts, written=written, questions=[g("reward_question") for g in get],
                 clusters=[g("cluster") for g in get], rewards=reward_lists)


def build(records: Iterable[dict], required: Iterable[str], optional: Iterable[str] = (),
          wanted: Iterable[str] | None = None) -> ScoredColumns:
    """Columns of records already parsed (a list or a stream), a chunk at a time; rewards held of the
    reward keys `wanted` only (None: all)."""
    builder = Builder(required, optional, wanted)
    chunk: list = []
    for record in records:
        chunk.append(record)
        if len(chunk) == CHUNK:
            builder.add(dict_chunk(chunk, builder.listed))
            chunk = []
    builder.add(dict_chunk(chunk, builder.listed))
    return builder.finish()


def ensure(records, required: Iterable[str], optional: Iterable[str] = ()) -> ScoredColumns:
    """`records` as columns: a list of records is built into them (tests, create_dataset's records)."""
    return records if isinstance(records, ScoredColumns) else build(records, required, optional)
