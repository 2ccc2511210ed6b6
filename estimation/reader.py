"""Read a scored JSONL file into columns (estimation/columns.py) without building its records.

msgspec decodes a block of lines per call into typed structs that hold only what phase 3 uses: the
completions' texts, most of a line's bytes, are skipped without becoming Python strings, and the
fields arrive as attributes rather than nested dicts, which one comprehension per field turns into
columns a block at a time. What that costs against a minimal reader of the same file:
docs/performance.md (bench/bench_effects.py).

The struct learns the file's layout: top-level keys and reward keys are not known in advance (a
reward key is a model's name), so unknown fields are refused, and a line with one is read as a plain
dict, which teaches the struct its new keys for the lines after it. Any line the typed decoder
refuses for another reason (NaN, a reward that is no number, a field of an unexpected type, bad
JSON) is also read as a plain dict by utils.parse_record, whose errors name the line: every line
gives the same columns either way (tests/test_effects_columns.py).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
from pathlib import Path
import operator
from typing import Any, Union

from estimation.columns import ABSENT, NOT_REWARDS, Builder, Chunk, ScoredColumns, build, dict_chunk
import utils
from utils.record import COMPLETIONS, FIELDS, REWRITES

logger = logging.getLogger(__name__)
NULL = b"null"
# bytes of lines decoded in one call: the structs of 1 MB of lines stay in the CPU's cache while they
# are read off into columns, where those of much larger blocks do not (docs/performance.md)
BLOCK = 1 << 20


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
            lines = _LinesBefore(path)
            for offset, block in _blocks(handle, digest):
                try:
                    # one call per block of lines, not one per line; decode_lines skips blank lines
                    builder.add(layout.chunk(layout.decode_lines(block), builder))
                except refused:
                    _line_by_line(path, bytes(block), lines.before(offset), builder, layout, refused)
            utils.provenance.remember_sha256(path, opened, digest.hexdigest())
    finally:
        if collecting:
            gc.enable()
    logger.debug("%s: %d lines read as plain dicts (a new key, or a value the typed decoder refused)", path,
                 layout.untyped)
    return builder.finish()


def _blocks(handle, digest):
    """(offset in the file, whole lines) of an opened file, BLOCK bytes at a time, each fed to `digest`
    (the sidecar names its inputs' sha256: no second pass). The lines are a view of one buffer that is
    read into again, valid until the next block is asked for: a fresh bytes object per block, and the
    copies that join a cut line to the next block, had cost more CPU than reading the file. A line
    longer than the buffer grows it."""
    buffer = bytearray(BLOCK)
    view, kept, offset = memoryview(buffer), 0, 0  # kept: the start of a line the last block cut
    while True:
        got = handle.readinto(view[kept:])
        digest.update(view[kept:kept + got])
        end = kept + got
        cut = buffer.rfind(b"\n", 0, end) + 1 if got else end
        if got and not cut and end == len(buffer):
            buffer = buffer + bytes(len(buffer))
            view, kept = memoryview(buffer), end
            continue
        if cut:
            yield offset, view[:cut]
            offset += cut
        if not got:
            return
        buffer[:end - cut] = buffer[cut:end]  # same length: allowed while a view is held
        kept = end - cut


class _LinesBefore:
    """How many lines a file holds before a byte offset, counted only when a refused block needs its
    line numbers (for errors that name them), reading on from the last offset asked for: counting
    every block's lines was a measurable share of phase 3's time."""

    def __init__(self, path: Path):
        self.path, self.offset, self.lines = path, 0, 0

    def before(self, offset: int) -> int:
        if offset > self.offset:
            with utils.files.open_lines(self.path) as handle:
                handle.seek(self.offset)
                while self.offset < offset:
                    data = handle.read(min(BLOCK, offset - self.offset))
                    if not data:
                        break
                    self.lines += data.count(b"\n")
                    self.offset += len(data)
        return self.lines


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
        self.top: dict[str, bool] = {}        # top-level key beyond the record's own -> whether it holds rewards
        self.completion_keys: set = set()     # completion keys of reward dicts beyond `listed`
        self.order: dict[str, int] = {}       # top-level key -> where the lines learnt from hold it
        self.untyped = 0
        self._build()

    def _build(self) -> None:
        msgspec = self.msgspec
        field, unset, raw = msgspec.field, msgspec.UNSET, msgspec.Raw
        # gc=False: decoded JSON holds no cycles, and untracked structs cost less to make and to free
        verdict = msgspec.defstruct("Verdict", [("w", Any, None)], gc=False)
        judge = msgspec.defstruct("Judge", [(f"j{i}", Union[verdict, None, msgspec.UnsetType], field(default=unset, name=key))
                                            for i, key in enumerate(COMPLETIONS)], gc=False)
        written = msgspec.defstruct("Written", [(f"c{i}", raw, field(default=raw(b"null"), name=key))
                                                for i, key in enumerate(REWRITES)], gc=False)
        # every completion key a reward dict may hold is a field, so that a new one is refused and learnt;
        # a reward is a float (an int becomes one), and any other value refuses its line to the plain
        # reader, so the columns take a chunk's rewards whole (columns._rewards)
        reward = Union[float, msgspec.UnsetType]
        reward_fields = [(f"r{i}", reward, field(default=unset, name=key)) for i, key in enumerate(self.listed)]
        reward_fields += [(f"x{i}", raw, field(default=unset, name=key))
                          for i, key in enumerate(sorted(self.completion_keys))]
        rewards = msgspec.defstruct("Rewards", reward_fields, forbid_unknown_fields=True, gc=False)
        # The record's own fields (utils.record.Record), each as phase 3 reads it: the judge's verdicts,
        # whether each rewrite was written, a few values as they are; any other field (`changes`) is
        # skipped as raw bytes, never parsed into Python objects.
        read_as = {"id": Any, "w_original": Any, "failures": Any, "reward_question": Any, "cluster": Any,
                   "judge": Union[judge, None, msgspec.UnsetType],
                   "completions": Union[written, None, msgspec.UnsetType]}
        fields = [(key, read_as.get(key, raw), field(default=unset)) for key in FIELDS]
        self.reward_names = []
        for i, (key, holds_rewards) in enumerate(sorted(self.top.items())):
            # a key that has held no dict is typed so that a dict there is refused and learnt, not skipped
            kind = rewards if holds_rewards else Union[str, int, float, bool, list]
            fields.append((f"t{i}", Union[kind, None, msgspec.UnsetType], field(default=unset, name=key)))
            if holds_rewards:
                self.reward_names.append((f"t{i}", key))
        self.extras = [(name, key) for (name, _, _), key in zip(reward_fields[len(self.listed):],
                                                                 sorted(self.completion_keys))]
        # a record's dict under a reward key, then each reward off the dicts (_rewards): two short
        # attribute reads per reward cost less than one along the whole path
        self.reward_getters = [operator.attrgetter(f"r{i}") for i in range(len(self.listed))]
        # in the lines' own order: the decoder looks for each key from the field after the last it found
        fields.sort(key=lambda spec: self.order.get(spec[2].name or spec[0], len(self.order)))
        record = msgspec.defstruct("Record", fields, forbid_unknown_fields=True, gc=False)
        self.decode = msgspec.json.Decoder(record).decode
        self.decode_lines = msgspec.json.Decoder(record).decode_lines

    def learn(self, record: dict) -> bool:
        """Add the keys of a line the typed decoder refused; rebuild only when there is one."""
        self.untyped += 1
        new = False
        for key in record:
            self.order.setdefault(key, len(self.order))
        for key, value in record.items():
            if key in NOT_REWARDS:
                continue
            holds = type(value) is dict
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
        """A Chunk of records decoded by this layout. Each field is one comprehension over the records
        (an attribute read there is specialised by the interpreter, several times cheaper than map over
        an attrgetter), and the common case, every record judged, written and rewarded, is tried first
        along whole attribute paths: a null or absent field on the way raises AttributeError, and only
        then are the fields taken apart record by record."""
        count = len(records)
        if not count:
            return Chunk([], [], [], [], ([], [], []), ([], []), [], [])
        judged = [True] * count
        try:
            verdicts = ([r.judge.j0.w for r in records], [r.judge.j1.w for r in records],
                        [r.judge.j2.w for r in records])
        except AttributeError:
            judges = [r.judge for r in records]
            judged = [judge is not None and judge is not ABSENT for judge in judges]
            entries = zip(*((_JUDGE_ENTRIES(judge) if ok else _NO_JUDGE) for judge, ok in zip(judges, judged)))
            verdicts = tuple(_verdicts(column) for column in entries)
        try:
            # a Raw does not compare with bytes; any text but a 2-letter one is told from null by its length
            written = ([len(r.completions.c0) != 4 for r in records], [len(r.completions.c1) != 4 for r in records])
        except AttributeError:
            completions = [_NO_COMPLETIONS if c is None or c is ABSENT else c for c in [r.completions for r in records]]
            written = ([len(c.c0) != 4 for c in completions], [len(c.c1) != 4 for c in completions])
        else:
            completions = None
        if False in written[0] or False in written[1]:
            completions = completions or [r.completions for r in records]
            for flags, getter in zip(written, (_C0, _C1)):
                for i in [i for i, flag in enumerate(flags) if not flag]:
                    flags[i] = bytes(getter(completions[i])) != NULL
        return Chunk(ids=[r.id for r in records], w=[r.w_original for r in records],
                     failures=[r.failures for r in records], judged=judged, verdicts=verdicts, written=written,
                     questions=[r.reward_question for r in records], clusters=[r.cluster for r in records],
                     rewards=self._rewards(records, builder), typed=True)

    def _rewards(self, records: list, builder: Builder) -> dict:
        """Chunk.rewards: per reward key, the records holding its dict, their rewards per listed
        completion key (of a key the run does not analyse, only of those not yet seen rewarded), and the
        other completion keys they reward."""
        rewards = {}
        for name, key in self.reward_names:
            needed = builder.needed(key)
            extras = [(extra, completion) for extra, completion in self.extras
                      if completion not in builder.column(key).seen]
            if not any(needed) and not extras:
                continue  # nothing left to learn of a key that is not analysed
            getters = [getter if need else None for need, getter in zip(needed, self.reward_getters)]
            dicts = list(map(operator.attrgetter(name), records))
            try:
                values = [list(map(getter, dicts)) if getter else None for getter in getters]
                positions = range(len(records))
            except AttributeError:  # some record has no dict (or a null) under this key
                positions = [i for i, value in enumerate(dicts) if value is not None and value is not ABSENT]
                if not positions:
                    continue
                dicts = [dicts[i] for i in positions]
                values = [list(map(getter, dicts)) if getter else None for getter in getters]
            others = {completion for extra, completion in extras if any(getattr(d, extra) is not ABSENT for d in dicts)}
            rewards[key] = (positions, values, others)
        return rewards


_JUDGE_ENTRIES = operator.attrgetter("j0", "j1", "j2")
_NO_JUDGE = (None, None, None)
_C0, _C1 = operator.attrgetter("c0"), operator.attrgetter("c1")
_W = operator.attrgetter("w")


class _NoCompletions:
    c0 = c1 = NULL


_NO_COMPLETIONS = _NoCompletions()


def _verdicts(entries: tuple) -> list:
    """The judge's `w` of each entry; an entry that is null or absent is its own verdict."""
    if None in entries or ABSENT in entries:
        return [entry if entry is None or entry is ABSENT else entry.w for entry in entries]
    return list(map(_W, entries))
