"""Phase 3 reads a scored file into columns (estimation/columns.py) through a typed decoder that learns
the file's layout (estimation/reader.py). Whatever a line holds, the columns must be those of the
plain-dict reading, and the drops, efficacy and clusters built on them those of the records."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest

from estimation import columns as effects_columns
from estimation import gate as effects_gate
from estimation import inputs as effects_inputs
from estimation import reader as effects_reader
from judges import efficacy as judge_efficacy
import utils

REQUIRED = ("original", "rewrite", "rewritten rewrite")
OPTIONAL = (utils.ORACLE,)
KEYS = dict(zip(REQUIRED, REQUIRED))


def judge(w, first=None, second=None):
    return {"original": {"w": w, "by": "rule"}, "rewrite": {"w": not w if first is None else first},
            "rewritten rewrite": {"w": w if second is None else second}}


def good(i, w=True, **extra):
    return {"id": f"e{i}", "w_original": w, "reward_question": f"q{i % 3}",
            "completions": {"original": "a text", "rewrite": "b", "rewritten rewrite": "c"},
            "changes": {"length ratio": 1.0}, "judge": judge(w),
            "m": {"original": 1.0 + i, "rewrite": 0.5, "rewritten rewrite": 0.25 * i},
            "n": {"original": -1.0, "rewrite": 2.0, "rewritten rewrite": 3.5}, **extra}


def awkward_lines() -> list[str]:
    """Records of every shape the typed decoder may meet, as JSONL lines."""
    records = [good(i, w=i % 2 == 0) for i in range(30)]
    records[3]["m"]["rewrite"] = 2            # an int reward
    records[4]["m"]["rewrite"] = True         # a bool is no reward
    records[5]["m"]["original"] = "high"      # a string is no reward
    records[6]["m"]["original"] = 10 ** 400   # beyond a float
    records[7]["m"].pop("rewritten rewrite")  # a reward missing
    records[8]["judge"]["rewrite"] = None     # an entry without a verdict
    records[9]["judge"].pop("original")       # no entry
    records[10]["judge"] = ["not", "a", "dict"]
    records[11]["judge"]["rewritten rewrite"] = {"w": 1}  # 1 counts as True
    records[12]["w_original"] = 1
    records[13]["w_original"] = "yes"
    records[14].pop("w_original")
    records[15].pop("id")
    records[16]["id"] = "e2"                  # a repeated id
    records[17]["completions"]["rewrite"] = None
    records[17]["failures"] = {"rewrite": "HTTP 500"}
    records[18]["completions"] = None
    records[19]["m"]["extra completion"] = 4.0  # a completion key no config names
    records[20]["late model"] = {"original": 0.1, "rewrite": 0.2, "rewritten rewrite": 0.3}  # a new reward key
    records[21]["note"] = "a top-level text"
    records[22]["note"] = {"original": 1.0}   # which later holds a dict: a reward key too
    records[23]["cluster"] = 1
    records[24]["cluster"] = "1"
    records[25]["reward_question"] = None
    records[26]["m"][utils.ORACLE] = 7.0
    records[27]["judge"]["rewrite"] = {"w": "maybe"}
    records[28]["n"] = None
    lines = [json.dumps(record) for record in records]
    lines[2] = lines[2].replace('"rewrite": 0.5', '"rewrite": NaN')  # what Python's json writes for a NaN
    lines.insert(5, "")
    lines.insert(9, "   ")
    lines[12] += "\r"
    return lines


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def same_columns(a: effects_columns.ScoredColumns, b: effects_columns.ScoredColumns) -> None:
    assert a.n == b.n and a.ids == b.ids and a.duplicates == b.duplicates
    for name in ("w", "failed", "judged", "question_codes", "cluster_codes"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.questions == b.questions and a.clusters == b.clusters
    for key in a.verdict:
        assert np.array_equal(a.verdict[key], b.verdict[key]), key
    for key in a.written:
        assert np.array_equal(a.written[key], b.written[key]), key
    assert set(a.reward_columns) == set(b.reward_columns)
    for reward_key in a.reward_columns:
        assert a.seen(reward_key) == b.seen(reward_key), reward_key
        for completion in (*REQUIRED, *OPTIONAL):
            (va, ma), (vb, mb) = a.rewards(reward_key, completion), b.rewards(reward_key, completion)
            assert np.array_equal(ma, mb) and np.array_equal(va, vb, equal_nan=True), (reward_key, completion)


def read_both_ways(path, lines: list[str], block: int, monkeypatch):
    """The typed reader's columns of `lines` read in blocks of `block` bytes, checked equal to the plain
    records' columns; and those records."""
    monkeypatch.setattr(effects_reader, "BLOCK", block)
    write(path, lines)
    records = utils.read_records(path, texts=False)
    typed = effects_reader.read(path, REQUIRED, OPTIONAL)
    same_columns(typed, effects_columns.build(records, REQUIRED, OPTIONAL))
    return typed, records


@pytest.mark.parametrize("block", [150, 2_000, 1 << 20])
def test_the_typed_reader_gives_the_columns_of_the_plain_records(tmp_path, monkeypatch, block):
    # 150 bytes: every line longer than the buffer, which grows; 2,000: blocks of a few lines, some
    # decoded whole with nulls and absent fields in them; 1 MB: the file in one block
    typed, _ = read_both_ways(tmp_path / "scored.jsonl", awkward_lines(), block, monkeypatch)
    assert typed.n == 30 and set(typed.reward_columns) == {"m", "n", "late model", "note"}
    assert typed.reward_keys("original") == {"m", "n", "late model", "note"}
    assert typed.seen("m") == {*REQUIRED, "extra completion", utils.ORACLE}


# values the columns take a block at a time in C (bytes(), np.fromiter) where every record of the block
# allows it, and one at a time otherwise: each is met in a block of its own and among plain records
ODD_W = [True, False, 1, 0, 2, -1, 300, 1.0, 0.0, None, "1"]
ODD_VERDICTS = [True, False, 1, 0, 2, 255, 256, -1, 1.0, 0.0, None, "yes", [1]]
ODD_REWARDS = [1.5, 0, 7, -(10 ** 30), True, None, "2.5", 1e308]


def odd_lines() -> list[str]:
    records = [good(i) for i in range(40)]
    records[3]["reward_question"] = records[9]["reward_question"] = "q0"  # a block of one question, then others
    for i, value in enumerate(ODD_W):
        records[2 * i]["w_original"] = value
    for i, value in enumerate(ODD_VERDICTS):
        records[2 * i + 1]["judge"]["rewrite"]["w"] = value
    for i, value in enumerate(ODD_REWARDS):
        records[3 * i + 2]["m"]["rewrite"] = value
    for i in (5, 6, 30):
        del records[i]["n"]["original"]  # rewards absent among floats
    for i in (12, 13, 25):
        records[i]["id"] = "e4"  # repeated within a block and across blocks
    records[33].pop("id")
    records[20]["failures"] = {"rewrite": "refused"}
    records[21]["cluster"] = "c"
    return [json.dumps(record) for record in records]


@pytest.mark.parametrize("block", [150, 700, 5_000, 1 << 20])
def test_values_taken_a_block_at_a_time_are_those_of_the_plain_records(tmp_path, monkeypatch, block):
    typed, records = read_both_ways(tmp_path / "odd.jsonl", odd_lines(), block, monkeypatch)
    # and those of the record-level definitions
    assert typed.w.tolist() == [-1 if utils.record_w(r) is None else int(utils.record_w(r)) for r in records]
    verdicts = [r["judge"]["rewrite"]["w"] for r in records]
    assert typed.verdict["rewrite"].tolist() == [judge_efficacy.verdict_code(v) for v in verdicts]
    rewards = [r["m"]["rewrite"] for r in records]
    expected = [float(v) if type(v) in (int, float) and math.isfinite(float(v)) else math.nan for v in rewards]
    assert np.array_equal(typed.rewards("m", "rewrite")[0], expected, equal_nan=True)
    assert typed.rewards("n", "original")[1].tolist() == ["original" not in r["n"] for r in records]
    first = {}
    assert typed.duplicates == [i for i, r in enumerate(records) if "id" in r and first.setdefault(r["id"], i) != i]


def test_ids_repeated_or_missing_in_later_chunks_are_found():
    # a chunk of the typed reader marks a missing id ABSENT, one of plain records None
    absent = effects_columns.ABSENT
    for chunks in ([["a", absent], ["b", absent], [None, "a"], ["d", "d", "b", None]],
                   [["a", "b"], ["c", "a", None], ["e", "e", absent], ["f", "c"]]):
        builder = effects_columns.Builder(REQUIRED)
        for ids in chunks:
            chunk = effects_columns.dict_chunk([{} for _ in ids], builder.listed)
            chunk.ids = ids
            builder.add(chunk)
        found = builder.finish()
        every = [i for ids in chunks for i in ids]
        assert found.ids == [None if i is absent else i for i in every]
        first: dict = {}
        assert found.duplicates == [n for n, i in enumerate(found.ids) if i is not None and first.setdefault(i, n) != n]


def test_drops_efficacy_and_clusters_from_columns_equal_those_from_records(tmp_path):
    path = write(tmp_path / "scored.jsonl", awkward_lines())
    records = utils.read_records(path, texts=False)
    typed = effects_reader.read(path, REQUIRED, OPTIONAL)
    for passed_only in (False, True):
        from_columns = effects_inputs.reward_arrays(typed, "m", KEYS, passed_only, "keep_first")
        from_records = effects_inputs.reward_arrays(records, "m", KEYS, passed_only, "keep_first")
        assert from_columns[1] == from_records[1] and from_columns[2] == from_records[2]
        assert from_columns[0]["ids"] == from_records[0]["ids"]
        assert np.array_equal(from_columns[0]["rewrite"], from_records[0]["rewrite"])
    dropped = effects_inputs.reward_arrays(typed, "m", KEYS, False, "keep_first")[1]
    assert dropped == {"duplicate id": 1, "W unknown": 2, "failed rewrite": 1, "no finite reward for rewrite": 2,
                       "no finite reward for original": 2, "no reward for rewritten rewrite": 1}
    # the judge's efficacy: the record-by-record definition (judges/efficacy.py) against the columns
    with_texts = utils.read_records(path)
    assert effects_gate.assess(typed, {"min_efficacy": 0.8}, "j")["rows"] == judge_efficacy.efficacy(with_texts)["rows"]
    assert typed.efficacy() == judge_efficacy.efficacy(with_texts)
    passed = [bool(utils.record.passed(record)) for record in with_texts]
    assert typed.passed().tolist() == passed
    arrays = effects_inputs.reward_arrays(typed, "m", KEYS, False, "keep_first")[0]
    labels, _ = effects_inputs.cluster_labels(arrays, "auto", path)
    index = {identifier: i for i, identifier in enumerate(arrays["ids"])}
    assert labels[index["e23"]] == labels[index["e24"]]  # cluster 1 and "1": the label "cluster:1" both


def test_bad_lines_are_one_error_naming_the_line_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(effects_reader, "BLOCK", 100)
    lines = [json.dumps(good(i)) for i in range(6)]
    for bad, message in (("{not json", "line 5 is not valid JSON"), ("[1, 2]", "line 5 is not a record")):
        path = write(tmp_path / "bad.jsonl", lines[:4] + [bad] + lines[4:])
        with pytest.raises(utils.RateError, match=message):
            effects_reader.read(path, REQUIRED)
    # lines are counted only when a block is refused, blank ones included, over blocks decoded whole
    monkeypatch.setattr(effects_reader, "BLOCK", 1_000)
    path = write(tmp_path / "blank.jsonl", lines[:3] + ["", "  "] + lines[3:5] + ["", "{not json"] + lines[5:])
    with pytest.raises(utils.RateError, match="line 9 is not valid JSON"):
        effects_reader.read(path, REQUIRED)
    path = tmp_path / "latin.jsonl"
    path.write_bytes(("\n".join(lines[:2]) + "\n").encode() + b'{"id": "\xe9"}\n')
    with pytest.raises(utils.RateError, match="line 3 is not UTF-8"):
        effects_reader.read(path, REQUIRED)


def test_without_msgspec_the_plain_reader_gives_the_same_columns(tmp_path, monkeypatch):
    path = write(tmp_path / "scored.jsonl", awkward_lines())
    typed = effects_reader.read(path, REQUIRED, OPTIONAL)
    monkeypatch.setitem(sys.modules, "msgspec", None)
    same_columns(effects_reader.read(path, REQUIRED, OPTIONAL), typed)


def test_a_reward_key_not_analysed_is_listed_but_its_rewards_not_held(tmp_path):
    path = write(tmp_path / "scored.jsonl", [json.dumps(good(i)) for i in range(50)])
    held = effects_reader.read(path, REQUIRED, OPTIONAL, wanted=["m"])
    assert held.reward_keys("original") == {"m", "n"} and held.seen("n") == set(REQUIRED)
    assert held.reward_columns["n"].parts == [] and held.reward_columns["m"].parts
    values, missing = held.rewards("m", "rewritten rewrite")
    assert values.tolist() == [0.25 * i for i in range(50)] and not missing.any()
    assert math.isnan(held.rewards("m", utils.ORACLE)[0][0]) and held.rewards("m", utils.ORACLE)[1].all()


def test_the_digest_taken_while_reading_is_the_files_and_a_changed_file_is_hashed_again(tmp_path):
    import hashlib
    import os

    path = write(tmp_path / "scored.jsonl", [json.dumps(good(i)) for i in range(40)])
    effects_reader.read(path, REQUIRED)
    assert utils.provenance.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    stat = os.stat(path)
    utils.provenance.remember_sha256(path, stat, "0" * 64)  # what a stale entry would say
    assert utils.provenance.sha256(path) == "0" * 64
    path.write_text(path.read_text() + json.dumps(good(40)) + "\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10 ** 9))
    assert utils.provenance.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
