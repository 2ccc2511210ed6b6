"""A real script reports config mistakes as one line on stderr and exit code 2, with no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_script


def write_yaml(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def assert_one_line_error(done, *needles: str, only_line: bool) -> str:
    """The script failed with exit code 2 and its last stderr line is the whole error."""
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    if only_line:
        assert len(lines) == 1, done.stderr
    assert lines[-1].startswith("error: ")
    assert sum(line.startswith("error:") for line in lines) == 1
    for needle in needles:
        assert needle in lines[-1]
    return lines[-1]


@pytest.fixture
def plain_config(tmp_path) -> Path:
    text = "smoke_test: false\nscoring:\n  model: vader\n  dataset_folder: rewrites\n  dataset_filename: latest\n"
    return write_yaml(tmp_path, text, name="plain.yaml")


def test_script_unknown_key_in_file(project_dir, tmp_path):
    path = write_yaml(tmp_path, "scoring:\n  modle: vader\n")
    done = run_script("score_dataset.py", "--config", str(path))
    assert_one_line_error(done, "'scoring.modle'", str(path), "did you mean 'model'", only_line=True)


def test_script_wrong_type_on_command_line(project_dir, plain_config):
    done = run_script("score_dataset.py", "--config", str(plain_config), "--scoring.batch_size=abc")
    assert_one_line_error(done, "'scoring.batch_size'", "command line", only_line=True)


def test_script_unknown_template(project_dir, plain_config):
    rewrites = project_dir / "data" / "rewrites"
    rewrites.mkdir(parents=True)
    record = {"id": "1", "w_original": True, "reward_question": "q", "completions": {"original": "good"}}
    (rewrites / "synthetic_sentiment_dataset_20240101_000000.jsonl").write_text(json.dumps(record) + "\n")
    done = run_script("score_dataset.py", "--config", str(plain_config), "--scoring.model=nonexistent")
    line = assert_one_line_error(done, "scoring.model", "nonexistent", "command line", only_line=False)
    assert "vader" in line  # lists the available templates
    assert not (project_dir / "data" / "scored").exists() or not any((project_dir / "data" / "scored").iterdir())


def test_script_no_file_for_latest(project_dir, plain_config):
    done = run_script("score_dataset.py", "--config", str(plain_config))
    assert_one_line_error(done, "scoring.dataset_filename", str(plain_config), "latest",
                          str(project_dir / "data" / "rewrites"), only_line=False)
