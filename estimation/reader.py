"""Read a scored JSONL file into columns (estimation/columns.py) without building its records.

msgspec decodes a block of lines per call into typed structs that hold only what phase 3 uses: the
completions' texts, most of a line's bytes, are skipped without becoming Python strings, and the
fields arrive as attributes rather than nested dicts, which map and zip turn into columns a block at
a time. Phase 3 reads a million records in 1.65-1.8 times the CPU of a minimal orjson + numpy script that
computes its estimates, and 1.3 times its memory (bench/bench_effects.py; docs/performance.md).

The struct learns the file's layout: top-level keys and reward keys are not known in advance (a
reward key is a model's name), so unknown fields are refused, and a line with one is read as a plain
dict, which teaches the struct its new keys for the lines after it. Any line the typed decoder
refuses for another reason (NaN, a field of an unexpected type, bad JSON) is also read as a plain
dict by utils.parse_record, whose errors name the line: every line gives the same columns either way
(tests/test_effects_columns.py).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from pathlib import Path
import operator
from typing import Any, Union

from estimation.columns import ABSENT, JUDGED, KNOWN, NOT_REWARDS, Builder, Chunk, ScoredColumns, build, dict_chunk
import utils

logger = logging.getLogger(__name__)
NULL = b"null"
BLOCK = 1 << 23  # bytes of lines decoded in one call


def read(path: Path, required: tuple, optional: tuple = (), wanted=None) -> ScoredColumns:
    """The columns of one scored file (JSONL, or the original code's `.json`), with the rewards of the
    reward keys `wanted` (None: all); of the others only which completions they reward."""
    path = Path(path)
    try:
        import msgspec
    except ModuleNotFoundError:
        msgspec = None
    if path.suffix == ".json" or msgspec is None:
        return build(utils.read_records(path, texts=False), required, optional, wanted)
    builder = Builder(required, optional, wanted)
    layout = _Layout(msgspec, builder.listed)
    refused = (msgspec.ValidationError, msgspec.DecodeError)
    # Decoded structs hold no cycles, and the collector, run over the thousands of them a block holds,
    # cost as much as decoding them
    collecting = gc.isenabled()
    gc.disable()
    try:
        with utils.files.open_lines(path) as handle:
            opened, digest = os.fstat(handle.fileno()), hashlib.sha256()
            done, rest = 0, b""  # lines read before this block; the start of a line the last block cut
            while True:
                data = handle.read(BLOCK)
                digest.update(data)  # for the sidecar, which names its inputs' digests
                block = rest + data
                if not block:
                    break
                cut = block.rfind(b"\n") + 1 if data else len(block)
                block, rest = block[:cut], block[cut:]
                if not block:
                    continue  # no line ends in what was read yet: read on
                try:
                    # one call per block of lines, not one per line; decode_lines skips blank lines
                    builder.add(layout.chunk(layout.decode_lines(block), builder))
                except refused:
                    _line_by_line(path, block, done, builder, layout, refused)
                done += block.count(b"\n") + (not block.endswith(b"\n"))
            utils.provenance.remember_sha256(path, opened, digest.hexdigest())
    finally:
        if collecting:
            gc.enable()
    logger.debug("%s: %d lines read as plain dicts (a new key, or a value the typed decoder refused)", path,
                 layout.untyped)
    return builder.finish()


def _line_by_line(path: Path, block: bytes, done: int, builder: Builder, layout: "_Layout", refused) -> None:
    """A block the typed decoder refused as a whole: each line typed where it can be, else as a plain
    dict (whose new keys the layout learns), a blank line skipped, a bad line one error naming it."""
    typed: list = []
    untyped: list = []

    def flush() -> None:
        if typed:
            builder.add(layout.chunk(typed, builder))
            typed.clear()
        if untyped:
            builder.add(dict_chunk(untyped, builder.listed))
            untyped.clear()

    loads = utils.files.json_parser()
    for number, line in enumerate(block.split(b"\n"), done + 1):  # as utils.files numbers lines
        if not line or line.isspace():
            continue
        try:
            record = layout.decode(line)
        except refused:
            record = utils.files.parse_record(path, number, line, loads)
            if typed:
                flush()  # structs are read off by the layout that decoded them, before it learns
            untyped.append(record)
            layout.learn(record)
        else:
            if untyped:
                flush()
            typed.append(record)
    flush()


class _Layout:
    """The typed decoder of one file, rebuilt when a line brings a key it has not seen."""

    def __init__(self, msgspec, listed: tuple):
        self.msgspec, self.listed = msgspec, listed
        self.top: dict[str, bool] = {}        # top-level key beyond KNOWN -> whether it holds rewards
        self.completion_keys: set = set()     # completion keys of reward dicts beyond `listed`
        self.untyped = 0
        self._build()

    def _build(self) -> None:
        msgspec = self.msgspec
        field, unset, raw = msgspec.field, msgspec.UNSET, msgspec.Raw
        # gc=False: decoded JSON holds no cycles, and untracked structs cost less to make and to free
        verdict = msgspec.defstruct("Verdict", [("w", Any, None)], gc=False)
        judge = msgspec.defstruct("Judge", [(f"j{i}", Union[verdict, None, msgspec.UnsetType], field(default=unset, name=key))
                                            for i, key in enumerate(JUDGED)], gc=False)
        written = msgspec.defstruct("Written", [(f"c{i}", raw, field(default=raw(b"null"), name=key))
                                                for i, key in enumerate(JUDGED[1:])], gc=False)
        # every completion key a reward dict may hold is a field, so that a new one is refused and learnt
        reward_fields = [(f"r{i}", Any, field(default=unset, name=key)) for i, key in enumerate(self.listed)]
        reward_fields += [(f"x{i}", raw, field(default=unset, name=key))
                          for i, key in enumerate(sorted(self.completion_keys))]
        rewards = msgspec.defstruct("Rewards", reward_fields, forbid_unknown_fields=True, gc=False)
        fields = [("k0", Any, field(default=unset, name="id")), ("k1", Any, field(default=unset, name="w_original")),
                  ("k2", Any, field(default=unset, name="failures")),
                  ("k3", Union[judge, None, msgspec.UnsetType], field(default=unset, name="judge")),
                  ("k4", Union[written, None, msgspec.UnsetType], field(default=unset, name="completions")),
                  ("k5", Any, field(default=unset, name="reward_question")),
                  ("k6", Any, field(default=unset, name="cluster")),
                  ("k7", raw, field(default=unset, name="changes"))]
        self.reward_names = []
        for i, (key, holds_rewards) in enumerate(sorted(self.top.items())):
            # a key that has held no dict is typed so that a dict there is refused and learnt, not skipped
            kind = rewards if holds_rewards else Union[str, int, float, bool, list]
            fields.append((f"t{i}", Union[kind, None, msgspec.UnsetType], field(default=unset, name=key)))
            if holds_rewards:
                self.reward_names.append((f"t{i}", key))
        self.extras = [(name, key) for (name, _, _), key in zip(reward_fields[len(self.listed):],
                                                                 sorted(self.completion_keys))]
        # every field a chunk needs, read off each record in one C call (chunk)
        self.fields = operator.attrgetter("k0", "k1", "k2", "k3", "k4", "k5", "k6",
                                          *(name for name, _ in self.reward_names))
        self.value_getters = operator.attrgetter(*(name for name, _, _ in reward_fields[:len(self.listed)]))
        record = msgspec.defstruct("Record", fields, forbid_unknown_fields=True, gc=False)
        self.decode = msgspec.json.Decoder(record).decode
        self.decode_lines = msgspec.json.Decoder(record).decode_lines

    def learn(self, record: dict) -> bool:
        """Add the keys of a line the typed decoder refused; rebuild only when there is one."""
        self.untyped += 1
        new = False
        for key, value in record.items():
            if key in KNOWN or key == "changes":
                continue
            holds = type(value) is dict and key not in NOT_REWARDS
            if key not in self.top or (holds and not self.top[key]):
                self.top[key] = holds or self.top.get(key, False)
                new = True
            if holds:
                fresh = {k for k in value if k not in self.listed} - self.completion_keys
                if fresh:
                    self.completion_keys |= fresh
                    new = True
        if new:
            self._build()
        return new

    def chunk(self, records: list, builder: Builder) -> Chunk:
        """A Chunk of records decoded by this layout. Built of map and zip over the records, which run in
        C, where a comprehension per field would cost more than decoding."""
        if not records:
            return Chunk([], [], [], [], ([], [], []), ([], []), [], [])
        ids, w, failures, judges, completions, questions, clusters, *held = zip(*map(self.fields, records))
        if None in judges or ABSENT in judges:
            judged = [judge is not None and judge is not ABSENT for judge in judges]
            entries = zip(*((_JUDGE_ENTRIES(judge) if ok else _NO_JUDGE) for judge, ok in zip(judges, judged)))
        else:
            judged = [True] * len(judges)
            entries = zip(*map(_JUDGE_ENTRIES, judges))
        verdicts = tuple(_verdicts(column) for column in entries)
        if None in completions or ABSENT in completions:
            completions = [_NO_COMPLETIONS if c is None or c is ABSENT else c for c in completions]
        # a Raw does not compare with bytes; any text but a 2-letter one is told from null by its length
        written = tuple([len(raw) != 4 or bytes(raw) != NULL for raw in column]
                        for column in zip(*map(_WRITTEN, completions)))
        rewards = {}
        for (_, key), found in zip(self.reward_names, held):
            if None in found or ABSENT in found:
                positions = [i for i, value in enumerate(found) if value is not None and value is not ABSENT]
                found = [found[i] for i in positions]
            else:
                positions = range(len(found))
            if not found:
                continue
            needed = builder.needed(key)
            if all(needed):
                values = list(zip(*map(self.value_getters, found))) if len(self.listed) > 1 \
                    else [list(map(self.value_getters, found))]
            else:  # a reward key the run does not analyse: only whether it rewards what it was not seen to
                values = [list(map(operator.attrgetter(f"r{i}"), found)) if need else None
                          for i, need in enumerate(needed)]
            seen = builder.column(key).seen
            others = {key for name, key in self.extras
                      if key not in seen and any(getattr(d, name) is not ABSENT for d in found)}
            rewards[key] = (positions, values, others)
        return Chunk(ids=list(ids), w=list(w), failures=list(failures), judged=judged, verdicts=verdicts,
                     written=written, questions=list(questions), clusters=list(clusters), rewards=rewards)


_JUDGE_ENTRIES = operator.attrgetter("j0", "j1", "j2")
_NO_JUDGE = (None, None, None)
_WRITTEN = operator.attrgetter("c0", "c1")
_W = operator.attrgetter("w")


class _NoCompletions:
    c0 = c1 = NULL


_NO_COMPLETIONS = _NoCompletions()


def _verdicts(entries: tuple) -> list:
    """The judge's `w` of each entry; an entry that is null or absent is its own verdict."""
    if None in entries or ABSENT in entries:
        return [entry if entry is None or entry is ABSENT else entry.w for entry in entries]
    return list(map(_W, entries))
