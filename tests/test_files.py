"""Files under PROJECT_DIR: never-overwrite writes, record IO, provenance sidecars and group sharing
(names and `latest`: tests/test_artifacts.py)."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path

import numpy
import pytest

import utils


def make_files(directory: Path, names_and_mtimes: list[tuple[str, float]]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, mtime in names_and_mtimes:
        path = directory / name
        path.write_text("{}\n")
        os.utime(path, (mtime, mtime))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


# --- atomic, never-overwrite writes ---------------------------------------------------------------


@pytest.mark.parametrize("writer", [
    lambda path: utils.write_jsonl(path, [{"a": 1}]),
    lambda path: utils.write_json(path, {"a": 1}),
    lambda path: utils.atomic_write(path, lambda handle: handle.write("new")),
])
def test_existing_file_is_never_replaced(project_dir, writer):
    project_dir.mkdir()
    target = project_dir / "out.json"
    target.write_text("original content")
    with pytest.raises(utils.RateError, match="overwrite"):
        writer(target)
    assert target.read_text() == "original content"
    assert sorted(p.name for p in project_dir.iterdir()) == ["out.json"]


def test_write_that_fails_midway_leaves_nothing(project_dir):
    project_dir.mkdir()
    target = project_dir / "out.jsonl"

    def write(handle):
        handle.write("partial line\n")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        utils.atomic_write(target, write)
    assert list(project_dir.iterdir()) == []


def test_unserializable_record_leaves_nothing(project_dir):
    project_dir.mkdir()
    with pytest.raises(TypeError):
        utils.write_jsonl(project_dir / "out.jsonl", [{"ok": 1}, {"bad": object()}])
    assert list(project_dir.iterdir()) == []


def test_successful_write_leaves_no_temp_file(project_dir):
    project_dir.mkdir()
    path = utils.write_json(project_dir / "out.json", {"x": [1, 2]})
    assert json.loads(path.read_text()) == {"x": [1, 2]}
    assert leftovers(project_dir) == [] and [p.name for p in project_dir.iterdir()] == ["out.json"]


# --- records --------------------------------------------------------------------------------------


def test_records_round_trip(project_dir):
    project_dir.mkdir()
    records = [
        {"id": "a", "w_original": True, "completions": {"original": "Großartig ✓", "rewrite": None},
         "vader": {"original": 0.5}},
        {"id": "b", "w_original": False, "completions": {"original": "line\nbreak"}, "failures": {"rewrite": "x"}},
    ]
    path = utils.write_jsonl(project_dir / "r.jsonl", records)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert utils.read_records(path) == records


def test_jsonl_blank_lines_are_skipped(project_dir):
    project_dir.mkdir()
    path = project_dir / "r.jsonl"
    path.write_text('{"id": "1"}\n\n   \n{"id": "2"}\n')
    assert [r["id"] for r in utils.read_records(path)] == ["1", "2"]


def test_original_rate_json_loads_with_ids(project_dir):
    project_dir.mkdir()
    original = {
        "17": {"w_original": True, "reward_question": "Review:",
               "completions": {"original": "great", "rewrite": "awful", "rewritten rewrite": "great!"},
               "ArmoRM": {"original": 0.9, "rewrite": 0.1, "rewritten rewrite": 0.8}},
        "3": {"w_original": False, "reward_question": "Review:",
              "completions": {"original": "bad", "rewrite": "good", "rewritten rewrite": "bad."},
              "ArmoRM": {"original": 0.2, "rewrite": 0.7, "rewritten rewrite": 0.25}},
    }
    path = project_dir / "imdb_sentiment_complete_scored_20240919_152739.json"
    path.write_text(json.dumps(original))
    records = utils.read_records(path)
    assert [r["id"] for r in records] == ["17", "3"]
    for record in records:
        expected = original[record["id"]]
        assert {k: v for k, v in record.items() if k != "id"} == expected
        assert record["completions"]["rewritten rewrite"] == expected["completions"]["rewritten rewrite"]


def test_invalid_jsonl_names_file_and_line(project_dir):
    project_dir.mkdir()
    path = project_dir / "bad.jsonl"
    path.write_text('{"id": "1"}\n\n{"id": 2,,}\n{"id": "4"}\n')
    with pytest.raises(utils.RateError) as info:
        utils.read_records(path)
    assert str(path) in str(info.value) and "line 3" in str(info.value)


def test_invalid_json_names_file(project_dir):
    project_dir.mkdir()
    path = project_dir / "bad.json"
    path.write_text('{"1": {"w_original": tru}}')
    with pytest.raises(utils.RateError) as info:
        utils.read_records(path)
    assert str(path) in str(info.value) and "not valid JSON" in str(info.value)


# --- provenance -----------------------------------------------------------------------------------


def test_write_meta(project_dir, tmp_path):
    config_path = tmp_path / "c.yaml"
    config_path.write_text("rewrites:\n  backend_options:\n    api_key: sk-very-secret\n"
                           "effects:\n  reward_key: ArmoRM\n")
    cfg = utils.load_config(config_path, [("scoring.batch_size", "4")])
    inputs = []
    for name, content in [("in1.jsonl", b'{"id": "1"}\n'), ("in2.jsonl", b"\x00\x01 binary " * 1000)]:
        path = tmp_path / name
        path.write_bytes(content)
        inputs.append(path)
    reserved = utils.artifacts.new_path(utils.artifacts.of(cfg, "scored", "imdb", ["vader"]), "jsonl")
    output, artifact = reserved.path, reserved.artifact
    utils.write_jsonl(output, [{"id": "1"}])
    started = utils.now()

    written = utils.write_meta(output, script="score_dataset.py", cfg=cfg, started_at=started, inputs=inputs,
                               templates={"scoring": "vader"}, counts={"examples": 1, "texts_scored": 3},
                               artifact=artifact)

    assert written == output.with_name(output.name.removesuffix(".jsonl") + ".meta.json")
    assert utils.meta_path(output) == written
    meta = json.loads(written.read_text())
    assert meta == utils.read_meta(output)
    assert meta["output"] == str(output) and meta["script"] == "score_dataset.py"
    assert utils.artifacts.identity(output) == artifact and artifact.models == ("vader",) and artifact.stamp
    assert meta["config_file"] == str(config_path)
    assert meta["config"]["rewrites"]["backend_options"] == {"api_key": "***"}
    assert "sk-very-secret" not in written.read_text()
    assert meta["config"]["effects"]["reward_key"] == "ArmoRM"
    assert meta["config"]["scoring"]["batch_size"] == 4
    assert meta["inputs"] == [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in inputs]
    assert meta["counts"] == {"examples": 1, "texts_scored": 3}
    assert meta["templates"] == {"scoring": "vader"}
    assert meta["started_at"] == started
    assert datetime.fromisoformat(meta["finished_at"]) >= datetime.fromisoformat(started)
    assert meta["versions"]["python"] == platform.python_version()
    assert meta["versions"]["numpy"] == numpy.__version__
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=utils.REPO_DIR, capture_output=True, text=True)
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["git"]["commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    # The sidecar is itself never overwritten.
    with pytest.raises(utils.RateError):
        utils.write_meta(output, script="x", cfg=cfg, started_at=started)


def test_read_meta_without_sidecar(project_dir):
    assert utils.read_meta(project_dir / "nothing_20240101_000000.jsonl") is None


# --- GROUP_NAME -----------------------------------------------------------------------------------


@pytest.fixture
def strict_umask():
    old = os.umask(0o077)
    yield
    os.umask(old)


def test_group_name_makes_outputs_group_readable(project_dir, monkeypatch, strict_umask):
    project_dir.mkdir()
    # Without GROUP_NAME the umask leaves the file private, so the check below means something.
    plain = utils.write_jsonl(project_dir / "plain.jsonl", [{"id": "1"}])
    assert plain.stat().st_mode & 0o040 == 0

    group = grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setenv("GROUP_NAME", group)
    shared = utils.write_jsonl(project_dir / "shared.jsonl", [{"id": "1"}])
    assert shared.stat().st_mode & 0o040
    assert shared.stat().st_gid == grp.getgrnam(group).gr_gid
    meta = utils.write_json(project_dir / "shared.meta.json", {"x": 1})
    assert meta.stat().st_mode & 0o040


def test_nonexistent_group_raises(project_dir, monkeypatch):
    project_dir.mkdir()
    monkeypatch.setenv("GROUP_NAME", "rate_no_such_group_4711")
    with pytest.raises(utils.RateError, match="rate_no_such_group_4711"):
        utils.write_jsonl(project_dir / "out.jsonl", [{"id": "1"}])
    assert leftovers(project_dir) == []


def test_outputs_are_as_readable_as_the_umask_allows(project_dir):
    """Temporary files are made 0600 (mkstemp); the output must not stay private when the umask
    would let others read it: a colleague's run takes it as input."""
    project_dir.mkdir()
    old = os.umask(0o022)
    try:
        written = utils.write_jsonl(project_dir / "out.jsonl", [{"id": "1"}])
    finally:
        os.umask(old)
    assert written.stat().st_mode & 0o777 == 0o644


# --- secrets in URLs, temporary files, a write that fails ------------------------------------------


@pytest.mark.parametrize("url, hidden", [
    ("http://alice:hunter2@10.0.0.5:8000/v1", ["alice", "hunter2"]),
    ("https://proxy.example/v1?api_key=tok-123&region=eu", ["tok-123"]),
    ("https://proxy.example/v1?region=eu&access_token=tok-456", ["tok-456"]),
    ("see http://bob:pw-789@host/v1 and https://x/v1?sig=abc999 here", ["bob", "pw-789", "abc999"]),
])
def test_credentials_in_a_url_are_redacted_wherever_text_is_redacted(url, hidden):
    for text in (utils.redact_url(url), utils.redact({"rewrites": {"base_url": url}})["rewrites"]["base_url"]):
        assert all(secret not in text for secret in hidden), text
        assert "***" in text
    assert utils.redact_url("https://proxy.example/v1?region=eu") == "https://proxy.example/v1?region=eu"


def test_a_link_planted_at_the_old_temporary_name_redirects_nothing(project_dir, tmp_path):
    """Temporary files used to be `.<name>.<pid>.tmp`; a link there must not make the write land on
    its target (they are now made exclusively, under a random name)."""
    project_dir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    target = project_dir / "out.jsonl"
    (project_dir / f".{target.name}.{os.getpid()}.tmp").symlink_to(victim)
    utils.write_jsonl(target, [{"id": "1"}])
    assert victim.read_text() == "untouched"
    assert utils.read_records(target) == [{"id": "1"}]


def test_a_state_file_is_replaced_whole_and_never_through_a_link(project_dir, tmp_path):
    project_dir.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    state = project_dir / "file-1.batch.json"
    state.write_text("{}")
    (project_dir / f".{state.name}.{os.getpid()}.tmp").symlink_to(victim)
    utils.atomic_write(state, lambda handle: handle.write('{"keys": {}}'), replace=True)
    assert json.loads(state.read_text()) == {"keys": {}} and victim.read_text() == "untouched"


def test_an_output_that_cannot_be_written_leaves_neither_it_nor_its_sidecar(project_dir):
    cfg = utils.load_config(None)
    project_dir.mkdir()
    output = project_dir / "x_20240101_000000.jsonl"
    reservation = project_dir / ".x_20240101_000000.reserved"
    reservation.touch()

    def full_disk(path):
        assert utils.meta_path(path).is_file(), "the sidecar comes first"
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        utils.write_output(output, full_disk, script="t.py", cfg=cfg, started_at=utils.now())
    assert sorted(p.name for p in project_dir.iterdir()) == []
