"""The record's one home (utils/record.py): phase 1 builds records of its fields under its request ids,
phase 2 validates them through it, phase 3's reader types them by it, and "both rewrites passed the
judge" is one definition for a record and for columns."""

from __future__ import annotations

import json

import msgspec
import pytest

from dataset_templates import _rewrites
from dataset_templates._sampling import Example
from estimation import columns as effects_columns
from estimation import reader as effects_reader
from rewriters import RewriteResult
import utils
from utils import record


def good(**changes) -> dict:
    base = {"id": "a", "w_original": True, "reward_question": "q",
            "completions": {"original": "o", "rewrite": "r", "rewritten rewrite": None}}
    return {**base, **changes}


@pytest.mark.parametrize("records, message", [
    ([], "f.jsonl: holds no records; there is nothing to score"),
    ([good(completions={"rewrite": "r"})], "f.jsonl: record 1 (id 'a') has no completions.original"),
    ([good(completions=["o"])], "f.jsonl: record 1 (id 'a') has no completions.original"),
    ([good(), good(id="b", reward_question=None)], "f.jsonl: record 2 (id 'b') has no reward_question (the prompt the "
                                                   "reward model sees) that is text"),
    ([good(completions={"original": "o", "rewrite": 5})], "f.jsonl: record 1 (id 'a'): completions.rewrite is int, "
                                                          "not text or null"),
    ([good(w_original="yes")], "f.jsonl: record 1 (id 'a') has no w_original that is a boolean or 0/1"),
    ([good(w_original=1.0)], "f.jsonl: record 1 (id 'a') has no w_original that is a boolean or 0/1"),
    ([good(), good(w_original=0)], "f.jsonl: record 2 repeats id 'a'"),
])
def test_validate_names_the_file_the_record_and_what_it_lacks(records, message):
    with pytest.raises(utils.RateError) as raised:
        record.validate(records, "f.jsonl")
    assert str(raised.value) == message


def test_validate_takes_what_phase_2_can_score():
    no_id = good()
    no_id.pop("id")
    record.validate([good(), good(id="b", w_original=0), no_id, dict(no_id)], "f.jsonl")


class Template:
    """What phase 1 asks of a dataset template to make a record."""

    rewrite_check = None

    @staticmethod
    def oracle_counterfactual(text, w):
        return f"{text} as {int(w)}"

    @staticmethod
    def prompt_for(text, w):
        return f"make {text} W={int(w)}"


def test_phase_1_builds_the_typed_record_under_the_request_ids():
    ex = Example("ex1", True, "q", "the original", cluster="c")
    first = _rewrites.first_requests([ex], Template)[0]
    second = _rewrites.second_request(ex, "the rewrite", Template)
    assert (first.custom_id, second.custom_id) == (record.request_id("ex1", record.REWRITE), "ex1:rewritten rewrite")
    results = {first.custom_id: RewriteResult(first.custom_id, "the rewrite"),
               second.custom_id: RewriteResult(second.custom_id, None, "refused")}
    made = _rewrites.make_record(ex, results, Template)
    assert made["completions"] == {"original": "the original", "rewrite": "the rewrite", "rewritten rewrite": None,
                                   record.ORACLE: "the original as 0"}
    assert made["failures"] == {"rewritten rewrite": "refused"} and made["cluster"] == "c"
    assert record.Record.__required_keys__ <= set(made) <= set(record.FIELDS)
    record.validate([made], "made")


def test_reward_keys_name_each_completion_as_a_config_or_an_effects_file_does():
    defaults = record.reward_keys(utils.load_config(None)["effects"])
    assert defaults == {name: name for name in record.COMPLETIONS}
    assert record.reward_keys({}) == defaults
    assert record.reward_keys({"w_counterfactual_key": "cf"})["rewrite"] == "cf"
    assert set(record.REWARD_KEYS.values()) <= set(utils.SCHEMA["effects"])


VERDICTS = [True, False, None, 1, 0, 1.0, "yes", ["w"], "absent"]


def judged(w, first, second) -> dict:
    pairs = (("rewrite", first), ("rewritten rewrite", second))
    judge = {key: {"w": value} for key, value in pairs if value != "absent"}
    return {"id": f"{w}-{first}-{second}", "w_original": w, "judge": judge}


def test_passed_is_one_definition_for_a_record_and_for_columns():
    records = [judged(w, first, second) for w in (True, False, 1, 0, None, "yes") for first in VERDICTS
               for second in VERDICTS]
    records += [{"id": "no judge", "w_original": True}, {"id": "a list", "w_original": False, "judge": [1]}]
    one_by_one = [record.passed(r) for r in records]
    assert one_by_one[0] is False and one_by_one[VERDICTS.index(False) * len(VERDICTS)] is True
    assert one_by_one.count(None) == 2 * len(VERDICTS) ** 2 + 2  # no W, or no judge dict
    # W=1 (True or 1) passes with the rewrite judged 0 (False, 0) and the rewritten rewrite 1 (True, 1, 1.0); W=0 alike
    assert sum(bool(found) for found in one_by_one) == 4 * 2 * 3
    columns = effects_columns.build(records, record.COMPLETIONS)
    assert columns.passed().tolist() == [bool(found) for found in one_by_one]


def test_the_reader_types_the_record_by_its_fields(tmp_path):
    line = good(judge={"original": {"w": True}}, changes={"a": 1.0}, cluster="c", m={"original": 1.0}, n={"rewrite": 2})
    path = tmp_path / "scored.jsonl"
    path.write_text(json.dumps(line) + "\n")
    layout = effects_reader._Layout(msgspec, record.COMPLETIONS)
    layout.learn(line)
    struct = layout.decode(json.dumps(line).encode())
    names = [field.encode_name for field in msgspec.structs.fields(type(struct))]
    # every field of the record and the two reward keys, each once (in the order the lines hold them)
    assert sorted(names) == sorted([*record.FIELDS, "m", "n"])
    assert effects_columns.NOT_REWARDS == set(record.FIELDS)
    read = effects_reader.read(path, record.COMPLETIONS)
    assert sorted(read.reward_columns) == ["m", "n"]  # `changes`, a dict, is the record's own, no model's
