"""Files under PROJECT_DIR: `latest`, input resolution, output names, never-overwrite writes, record IO,
provenance sidecars and group sharing."""

from __future__ import annotations

import grp
import hashlib
import json
import os
import platform
import re
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


# --- latest ---------------------------------------------------------------------------------------


def test_latest_uses_the_stamp_in_the_name_not_mtime(project_dir):
    rewrites = project_dir / "data" / "rewrites"
    # The newest stamp has the oldest mtime.
    make_files(rewrites, [("imdb_dataset_20240103_000000.jsonl", 1_000),
                          ("imdb_dataset_20240102_235959.jsonl", 2_000),
                          ("imdb_dataset_20231231_120000.jsonl", 3_000)])
    assert utils.latest("rewrites", "imdb_dataset", smoke=False) == rewrites / "imdb_dataset_20240103_000000.jsonl"


def test_latest_separates_smoke_and_full_runs(project_dir):
    rewrites = project_dir / "data" / "rewrites"
    make_files(rewrites, [("imdb_dataset_20240101_000000.jsonl", 1),
                          ("imdb_dataset_smoke_test_20240105_000000.jsonl", 1),
                          ("imdb_dataset_smoke_test_20240102_000000.jsonl", 1),
                          ("imdb_dataset_20240104_000000_smoke_test.jsonl", 1)])
    assert utils.latest("rewrites", "imdb_dataset", smoke=False).name == "imdb_dataset_20240101_000000.jsonl"
    assert utils.latest("rewrites", "imdb_dataset", smoke=True).name == "imdb_dataset_smoke_test_20240105_000000.jsonl"


def test_latest_finds_original_rate_smoke_names(project_dir):
    scored = project_dir / "data" / "scored"
    make_files(scored, [("imdb_armorm_scored_20240102_000000_smoke_test.jsonl", 1),
                        ("imdb_armorm_scored_smoke_test_20240101_000000.jsonl", 1),
                        ("imdb_armorm_scored_20240109_000000.jsonl", 1)])
    found = utils.latest("scored", "imdb_armorm_scored", smoke=True)
    assert found.name == "imdb_armorm_scored_20240102_000000_smoke_test.jsonl"


def test_latest_ignores_datasets_sharing_a_prefix(project_dir):
    rewrites = project_dir / "data" / "rewrites"
    make_files(rewrites, [("imdb_length_dataset_20240101_000000.jsonl", 1),
                          ("imdb_length_v2_dataset_20240301_000000.jsonl", 1),
                          ("imdb_length_dataset_v2_20240302_000000.jsonl", 1),
                          ("xx_imdb_length_dataset_20240303_000000.jsonl", 1)])
    found = utils.latest("rewrites", "imdb_length_dataset", smoke=False)
    assert found.name == "imdb_length_dataset_20240101_000000.jsonl"


def test_latest_ignores_sidecars_temp_files_and_other_extensions(project_dir):
    effects = project_dir / "effects"
    make_files(effects, [("imdb_x_treatment_effects_20240101_000000.json", 1),
                         ("imdb_x_treatment_effects_20240102_000000.meta.json", 1),
                         (".imdb_x_treatment_effects_20240103_000000.json.123.tmp", 1),
                         ("imdb_x_treatment_effects_20240104_000000.csv", 1)])
    found = utils.latest("effects", "imdb_x_treatment_effects", smoke=False, exts=("json",))
    assert found.name == "imdb_x_treatment_effects_20240101_000000.json"


def test_latest_wildcard_in_base(project_dir):
    scored = project_dir / "data" / "scored"
    make_files(scored, [("imdb_vader_scored_20240101_000000.jsonl", 3),
                        ("imdb_hf-org-model_scored_20240102_000000.jsonl", 2),
                        ("imdb_vader_scored_smoke_test_20240109_000000.jsonl", 1),
                        ("imdb_dataset_20240110_000000.jsonl", 1)])
    full = utils.latest("scored", "imdb_*_scored", smoke=False)
    smoke = utils.latest("scored", "imdb_*_scored", smoke=True)
    assert full.name == "imdb_hf-org-model_scored_20240102_000000.jsonl"
    assert smoke.name == "imdb_vader_scored_smoke_test_20240109_000000.jsonl"


def test_latest_wildcard_ignores_datasets_sharing_a_prefix(project_dir):
    # `*` stands for a scoring template's key (or an hf- slug), so 'v2_vader' is not a model name
    scored = project_dir / "data" / "scored"
    make_files(scored, [("imdb_length_vader_scored_20240101_000000.jsonl", 1),
                        ("imdb_length_v2_vader_scored_20240102_000000.jsonl", 1),
                        ("imdb_length_notamodel_scored_20240103_000000.jsonl", 1)])
    found = utils.latest("scored", "imdb_length_*_scored", smoke=False)
    assert found.name == "imdb_length_vader_scored_20240101_000000.jsonl"


@pytest.mark.parametrize("smoke", [False, True])
def test_latest_raises_naming_the_folder(project_dir, smoke):
    rewrites = project_dir / "data" / "rewrites"
    make_files(rewrites, [("other_dataset_20240101_000000.jsonl", 1),
                          (f"imdb_dataset{'' if smoke else '_smoke_test'}_20240101_000000.jsonl", 1)])
    with pytest.raises(utils.RateError) as info:
        utils.latest("rewrites", "imdb_dataset", smoke=smoke)
    assert str(rewrites) in str(info.value) and "imdb_dataset" in str(info.value)


def test_latest_raises_when_folder_missing(project_dir):
    with pytest.raises(utils.RateError, match=re.escape(str(project_dir / "data" / "scored"))):
        utils.latest("scored", "imdb_*_scored", smoke=False)


# --- resolve_input --------------------------------------------------------------------------------


def test_resolve_input_explicit_name_relative_to_phase_folder(project_dir):
    cfg = utils.load_config(None)
    scored = project_dir / "data" / "scored"
    make_files(scored / "archive", [("imdb_length_sfairxc_scored_20240918_195038.jsonl", 1)])
    make_files(scored, [("imdb_length_sfairxc_scored_20250101_000000.jsonl", 1)])
    name = "archive/imdb_length_sfairxc_scored_20240918_195038.jsonl"
    found = utils.resolve_input("scored", "imdb_length_*_scored", False, name, "scoring.dataset_filename", cfg)
    assert found == (scored / name).resolve() and found.is_absolute()


def test_resolve_input_absolute_path(project_dir, tmp_path):
    cfg = utils.load_config(None)
    make_files(tmp_path / "elsewhere", [("anything.jsonl", 1)])
    path = tmp_path / "elsewhere" / "anything.jsonl"
    assert utils.resolve_input("scored", "imdb_*_scored", False, str(path), "effects.dataset_filename", cfg) == path


def test_resolve_input_latest(project_dir):
    cfg = utils.load_config(None)
    make_files(project_dir / "data" / "rewrites", [("imdb_dataset_20240101_000000.jsonl", 2),
                                                    ("imdb_dataset_20240201_000000.jsonl", 1)])
    found = utils.resolve_input("rewrites", "imdb_dataset", False, "latest", "scoring.dataset_filename", cfg)
    assert found.name == "imdb_dataset_20240201_000000.jsonl"


def test_resolve_input_missing_file_names_key_and_source(project_dir):
    name = "no_such_file_4711.jsonl"
    cfg = utils.load_config(None, [("scoring.dataset_filename", name)])
    with pytest.raises(utils.RateError) as info:
        utils.resolve_input("rewrites", "imdb_dataset", False, name, "scoring.dataset_filename", cfg)
    message = str(info.value)
    assert message.startswith("command line: scoring.dataset_filename:")
    assert "no_such_file_4711.jsonl" in message and str(project_dir / "data" / "rewrites") in message


def test_resolve_input_latest_missing_names_key(project_dir):
    cfg = utils.load_config(None)
    with pytest.raises(utils.RateError) as info:
        utils.resolve_input("rewrites", "imdb_dataset", True, "latest", "effects.dataset_filename", cfg)
    message = str(info.value)
    assert message.startswith("defaults: effects.dataset_filename:")
    assert "smoke-test" in message and str(project_dir / "data" / "rewrites") in message


# --- new_output_path ------------------------------------------------------------------------------


@pytest.mark.parametrize("smoke, mark", [(False, ""), (True, "_smoke_test")])
def test_new_output_path_name(project_dir, smoke, mark):
    before = datetime.now().replace(microsecond=0)
    path = utils.new_output_path("scored", "imdb_vader_scored", smoke, "jsonl")
    after = datetime.now()
    assert path.parent == project_dir / "data" / "scored" and path.parent.is_dir()
    assert not path.exists()
    match = re.fullmatch(rf"imdb_vader_scored{mark}_(\d{{8}}_\d{{6}})\.jsonl", path.name)
    assert match, path.name
    assert before <= datetime.strptime(match.group(1), "%Y%m%d_%H%M%S") <= after


def test_new_output_path_skips_a_stamp_in_use(project_dir, monkeypatch):
    import time

    stamps = iter(["20240101_000000", "20240101_000000", "20240101_000001", "20240101_000002"])
    monkeypatch.setattr(time, "strftime", lambda fmt: next(stamps))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    # Any file of the base with that stamp blocks it, whatever its extension; other bases do not.
    make_files(project_dir / "effects", [("imdb_x_treatment_effects_20240101_000000.meta.json", 1),
                                         ("imdb_y_treatment_effects_20240101_000001.json", 1)])
    path = utils.new_output_path("effects", "imdb_x_treatment_effects", False, "json")
    assert path.name == "imdb_x_treatment_effects_20240101_000001.json"


def test_new_output_path_twice_gives_distinct_stamps(project_dir):
    first = utils.new_output_path("rewrites", "imdb_dataset", False, "jsonl")
    utils.write_jsonl(first, [])
    second = utils.new_output_path("rewrites", "imdb_dataset", False, "jsonl")
    assert second != first and second.name > first.name and not second.exists()


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
    output = utils.new_output_path("scored", "imdb_vader_scored", False, "jsonl")
    utils.write_jsonl(output, [{"id": "1"}])
    started = utils.now()

    written = utils.write_meta(output, script="score_dataset.py", cfg=cfg, started_at=started, inputs=inputs,
                               templates={"scoring": "vader"}, counts={"examples": 1, "texts_scored": 3})

    assert written == output.with_name(output.name.removesuffix(".jsonl") + ".meta.json")
    assert utils.meta_path(output) == written
    meta = json.loads(written.read_text())
    assert meta == utils.read_meta(output)
    assert meta["output"] == str(output) and meta["script"] == "score_dataset.py"
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


def test_latest_breaks_a_stamp_tie_by_the_file_written_last(project_dir):
    scored = project_dir / "data" / "scored"
    scored.mkdir(parents=True)
    first, second = scored / "imdb_vader_scored_20240101_000000.jsonl", scored / "imdb_armorm_scored_20240101_000000.jsonl"
    first.write_text("{}\n")
    second.write_text("{}\n")
    os.utime(first, ns=(2_000_000_000_000_000_000, 2_000_000_000_000_000_000))
    os.utime(second, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    assert utils.latest("scored", "imdb_*_scored", smoke=False) == first
