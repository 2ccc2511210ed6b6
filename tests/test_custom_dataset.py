"""The `custom` dataset template: a user's own file and attribute, configured without code. Rows in
every supported format and shape, W from a field or from the attribute judge, and each mistake in a
row or an option as one line naming the option, the file and the row (exit 2, nothing written)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from conftest import REPO, run_script
from fake_openai import FakeOpenAI
from test_bad_input import snapshot

EXAMPLE = REPO / "examples/bring_your_own/responses.jsonl"
CONFIG = REPO / "configs/examples/bring_your_own.yaml"
ROWS = [json.loads(line) for line in EXAMPLE.read_text().splitlines()]
ENV = {"OPENAI_API_KEY": "sk-test-custom", "OPENAI_BASE_URL": ""}


def build(**options):
    from dataset_templates import custom

    given = {"w_strings": {"w=1": "uses a bulleted list", "w=0": "does not use a bulleted list"}, **options}
    return custom.build({**custom.OPTIONS, **given})


def has_list(text: str) -> bool:
    return "\n- " in text or text.startswith("- ")


def responder(undecided: str = "\x00"):
    """Answers as a capable model would: rewrites into or out of a list as asked, and judges whether
    a text is a list; a text holding `undecided` gets an answer that names neither option."""
    def respond(prompt: str) -> str:
        if "Which of these two descriptions" in prompt:
            text = prompt.split('"""\n', 1)[1].split('\n"""', 1)[0]
            if undecided in text:
                return "I cannot tell."
            options = dict(re.findall(r"^([AB]): (.*)$", prompt, re.MULTILINE))
            wanted = "uses a bulleted list" if has_list(text) else "does not use a bulleted list"
            return next(letter for letter, description in options.items() if description == wanted)
        text, ask = prompt.split("\n\nRewrite the response above so that it ", 1)
        sentences = [s.strip(" -.") for s in re.split(r"\n|(?<=\.) ", text) if s.strip(" -.")]
        if ask.startswith("uses a bulleted list"):
            return sentences[0] + ". In steps:\n\n" + "\n".join(f"- {s}." for s in sentences[1:])
        return "In short: " + " ".join(f"{s}." for s in sentences)
    return respond


@pytest.fixture
def list_server(project_dir):
    server = FakeOpenAI(responder()).start()
    yield server
    server.stop()


@pytest.fixture
def unsure_server(project_dir):
    """A judge that cannot tell for the answers mentioning a drainage hole."""
    server = FakeOpenAI(responder("drainage")).start()
    yield server
    server.stop()


def args(server, *extra: str) -> list[str]:
    return ["--config", str(CONFIG), f"--rewrites.base_url={server.url}", f"--rewrites.template_options.path={EXAMPLE}",
            "--rewrites.n_examples=24", "--rewrites.retry_backoff=0.01", *extra]


def output_of(done) -> tuple[list[dict], dict]:
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    return ([json.loads(line) for line in path.read_text().splitlines()],
            json.loads(path.with_name(path.stem + ".meta.json").read_text()))


def test_w_from_a_field_end_to_end(list_server, project_dir):
    records, meta = output_of(run_script("create_dataset.py", *args(list_server), env=ENV))
    by_id = {row["id"]: row for row in ROWS}
    assert len(records) == 24
    for record in records:
        row = by_id[record["id"]]
        assert record["w_original"] == row["has_list"] and record["cluster"] == row["question_id"]
        assert record["completions"]["original"] == row["response"] and record["reward_question"] == row["prompt"]
        assert has_list(record["completions"]["rewrite"]) != row["has_list"]
        assert has_list(record["completions"]["rewritten rewrite"]) == row["has_list"]
        assert record["judge"]["original"]["w"] == row["has_list"]
    assert meta["templates"]["dataset"] == "custom"
    assert meta["efficacy"]["agreement"]["share"] == 1.0


def test_w_from_the_judge_skips_and_counts_what_it_leaves_undecided(unsure_server, project_dir):
    done = run_script("create_dataset.py", *args(unsure_server, "--rewrites.template_options.w_field=null",
                                                 "--rewrites.n_examples=200"), env=ENV)
    records, meta = output_of(done)
    undecided = [row for row in ROWS if "drainage" in row["response"]]
    assert undecided and len(records) == len(ROWS) - len(undecided)
    assert meta["counts"]["originals undecided by the judge (skipped)"] == len(undecided)
    by_id = {row["id"]: row for row in ROWS}
    assert all(record["w_original"] == by_id[record["id"]]["has_list"] for record in records)
    # the judge's verdicts on the originals are W here: nothing to measure its agreement against
    assert all("original" not in record.get("judge", {}) for record in records)
    assert not meta["efficacy"]["agreement"]


def test_w_from_the_judge_needs_an_llm_judge(list_server, project_dir):
    done = run_script("create_dataset.py", *args(list_server, "--rewrites.template_options.w_field=null",
                                                 "--judge.method=none"), env=ENV)
    assert done.returncode == 2
    assert "judge.method llm" in done.stderr.strip().splitlines()[-1]


def test_a_dry_run_with_the_judge_deciding_w_sends_nothing(list_server, project_dir):
    done = run_script("create_dataset.py", *args(list_server, "--rewrites.template_options.w_field=null",
                                                 "--rewrites.dry_run=true"), env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "requests:" in done.stdout and "judge:" in done.stdout
    assert list_server.chat_received == []


def files(root: Path) -> dict[str, str]:
    """The files under root (a run may leave the empty folder its lock was in)."""
    return {name: digest for name, digest in snapshot(root).items() if digest != "folder"}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_every_file_format_and_dotted_fields(tmp_path):
    rows = [{"uid": f"u{i}", "messages": [{"role": "user", "content": f"question {i}"},
                                          {"role": "assistant", "content": f"answer {i}"}], "label": "yes" if i % 2 else "no"}
            for i in range(6)]
    expected = [(f"u{i}", f"question {i}", f"answer {i}", bool(i % 2)) for i in range(6)]
    fields = dict(id_field="uid", question_field="messages.0.content", completion_field="messages.-1.content",
                  w_field="label", w_true_values=["yes"], w_false_values=["no"])
    write(tmp_path / "rows.jsonl", rows)
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    import datasets
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "rows.parquet"))
    for name in ("rows.jsonl", "rows.json", "rows.parquet"):
        template = build(path=str(tmp_path / name), **fields)
        got = [(r["id"], r["question"], r["completion"], r["w"]) for r in template.load_rows()]
        assert got == expected, name
    with open(tmp_path / "rows.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["uid", "prompt", "response", "label"])
        writer.writeheader()
        writer.writerows({"uid": u, "prompt": q, "response": a, "label": "yes" if w else "no"} for u, q, a, w in expected)
    template = build(path=str(tmp_path / "rows.csv"), id_field="uid", w_field="label", w_true_values=["yes"])
    assert [(r["id"], r["question"], r["completion"], r["w"]) for r in template.load_rows()] == expected


def test_plain_labels_and_row_numbers_as_ids(tmp_path):
    rows = [{"prompt": "q", "response": f"a{i}", "w": value} for i, value in enumerate([True, 0, "TRUE", "0", 1])]
    template = build(path=str(write(tmp_path / "r.jsonl", rows)), w_field="w")
    loaded = template.load_rows()
    assert [r["w"] for r in loaded] == [True, False, True, False, True]
    assert [r["id"] for r in loaded] == [f"row-{n}" for n in range(1, 6)]
    assert template.get_cluster is None


def test_a_relative_path_is_found_under_project_dir_then_where_the_command_runs(tmp_path, project_dir, monkeypatch):
    project_dir.mkdir()
    write(project_dir / "mine.jsonl", [{"prompt": "q", "response": "a", "w": 1}])
    assert build(path="mine.jsonl", w_field="w").load_rows()[0]["w"] is True
    monkeypatch.chdir(REPO)
    assert len(build(path="examples/bring_your_own/responses.jsonl", w_field="has_list").load_rows()) == 200


BAD_ROWS = [
    ("missing-field", [{"prompt": "q", "response": "a", "w": 1}, {"prompt": "q", "w": 0}],
     {}, r"completion_field: row 2 of \S+bad\.jsonl has no field 'response'"),
    ("w-neither", [{"prompt": "q", "response": "a", "w": 1}, {"prompt": "q", "response": "b", "w": "maybe"}],
     {}, r"w_field: row 2 of \S+bad\.jsonl: 'w' is 'maybe', neither true nor false"),
    ("w-not-listed", [{"prompt": "q", "response": "a", "w": "pos"}, {"prompt": "q", "response": "b", "w": "meh"}],
     {"w_true_values": ["pos"], "w_false_values": ["neg"]}, r"w_field: row 2 of \S+: 'w' is 'meh', in neither"),
    ("empty-text", [{"prompt": "q", "response": "   ", "w": 1}], {}, r"completion_field: row 1 of \S+: 'response' is an empty text"),
    ("not-text", [{"prompt": 3, "response": "a", "w": 1}], {}, r"question_field: row 1 of \S+: 'prompt' is int, not text"),
    ("repeated-id", [{"id": 7, "prompt": "q", "response": "a", "w": 1}, {"id": 7, "prompt": "q", "response": "b", "w": 0}],
     {"id_field": "id"}, r"id_field: rows 1 and 2 of \S+ share the id '7'"),
    ("not-a-row", [["q", "a"]], {}, r"path: row 1 of \S+ is list, not a row of named fields"),
]
BAD_OPTIONS = [
    ("prompt-without-placeholder", {"rewrite_prompt": "Rewrite {original_completion}."},
     r"rewrite_prompt.*must hold \{w_counterfactual_string\}"),
    ("prompt-stray-brace", {"rewrite_prompt": "{original_completion} {w_counterfactual_string} {x}"},
     r"rewrite_prompt.*brace that is no placeholder"),
    ("no-w-strings", {"w_strings": None}, r"w_strings.*must describe both values of W"),
    ("no-source", {"path": None}, r"path.*needs path"),
    ("values-without-field", {"w_field": None, "w_true_values": ["x"]}, r"w_true_values.*needs w_field"),
    ("field-not-text", {"id_field": 3}, r"id_field.*must be a non-empty string"),
    ("field-wrong-type", {"question_field": 3}, r"question_field' must be str"),
    ("no-such-file", {"path": "nowhere/none.jsonl"}, r"path: nowhere/none\.jsonl is neither under PROJECT_DIR"),
]


@pytest.mark.parametrize("rows, extra, message", [pytest.param(r, e, m, id=i) for i, r, e, m in BAD_ROWS])
def test_a_bad_row_is_one_line_exit_2_and_nothing_written(rows, extra, message, tmp_path, project_dir):
    bad = write(tmp_path / "bad.jsonl", rows)
    project_dir.mkdir()
    before = files(project_dir)
    options = [f"--rewrites.template_options.{k}={json.dumps(v)}" for k, v in extra.items()]
    done = run_script("create_dataset.py", "--config", str(CONFIG), f"--rewrites.template_options.path={bad}",
                      "--rewrites.template_options.w_field=w", "--rewrites.template_options.id_field=null",
                      "--rewrites.template_options.cluster_field=null", *options, env=ENV)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert last.startswith("error: rewrites.template_options.") and re.search(message, last), last
    assert files(project_dir) == before


@pytest.mark.parametrize("extra, message", [pytest.param(e, m, id=i) for i, e, m in BAD_OPTIONS])
def test_a_bad_option_is_one_line_naming_it_and_the_config(extra, message, project_dir):
    project_dir.mkdir()
    before = files(project_dir)
    options = [f"--rewrites.template_options.{k}={json.dumps(v)}" for k, v in extra.items()]
    done = run_script("create_dataset.py", "--config", str(CONFIG), f"--rewrites.template_options.path={EXAMPLE}",
                      *options, env=ENV)
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert last.startswith("error:") and re.search(message, last), last
    assert "command line" in last or CONFIG.name in last, last
    assert files(project_dir) == before
