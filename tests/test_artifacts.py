"""What an output is (utils/artifacts.py): the names identities make, `latest` read from sidecars,
the files of the original RATE code found by their own names, runs, lineage, the warning when `latest`
took a file made with other settings, and README, every --help and the files on disk agreeing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime

import pytest

import utils
from conftest import REPO, run_script
from utils.artifacts import NAMES, Artifact, identity, latest, new_path

SCRIPTS = ("create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py")


def made(project_dir, artifact: Artifact, ext: str = "jsonl", mtime: float | None = None):
    """A file with the sidecar a phase writes for `artifact` (its stamp as given)."""
    path = utils.folder(utils.artifacts.KINDS[artifact.kind][0]) / f"{artifact.stem()}.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    utils.meta_path(path).write_text(json.dumps({"output": str(path), "artifact": artifact.as_meta(), "inputs": []}))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def bare(project_dir, folder: str, name: str):
    path = project_dir / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    return path


@pytest.mark.parametrize("artifact, name", [
    (Artifact("rewrites", "imdb", stamp="20240101_000000"), "imdb_dataset_20240101_000000"),
    (Artifact("scored", "imdb", ("hf:org/rm", "vader"), smoke=True, stamp="20240101_000000"),
     "imdb_hf-org-rm_scored_smoke_test_20240101_000000"),
    (Artifact("scored", "imdb", ("vader",), part="shard-1-of-3", stamp="20240101_000000"),
     "imdb_vader_scored_shard-1-of-3_20240101_000000"),
    (Artifact("effects", "imdb", ("m",), reward_key="k/1", named_key=True, stamp="20240101_000000"),
     "imdb_m_k-1_treatment_effects_20240101_000000"),
    (Artifact("effects", "imdb", ("m",), reward_key="k", smoke=True, stamp="20240101_000000"),
     "imdb_m_treatment_effects_smoke_test_20240101_000000"),
    (Artifact("estimates", "comparison", stamp="20240101_000000"), "comparison_estimates_20240101_000000"),
])
def test_an_identity_makes_its_name(artifact, name):
    assert artifact.stem() == name
    assert Artifact.from_meta(json.loads(json.dumps(artifact.as_meta()))) == artifact


def test_a_new_path_takes_a_fresh_stamp_and_never_one_in_use(project_dir, monkeypatch):
    import time

    before = datetime.now().replace(microsecond=0)
    reserved = new_path(Artifact("scored", "imdb", ("vader",), smoke=True), "jsonl")
    path, artifact = reserved.path, reserved.artifact
    assert path.parent == project_dir / "data/scored" and not path.exists() and artifact.stamp
    assert path.name == f"imdb_vader_scored_smoke_test_{artifact.stamp}.jsonl"
    assert before <= datetime.strptime(artifact.stamp, "%Y%m%d_%H%M%S") <= datetime.now()
    stamps = iter(["20240101_000000", "20240101_000000", "20240101_000001"])
    monkeypatch.setattr(time, "strftime", lambda fmt: next(stamps))
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    bare(project_dir, "effects", "imdb_x_treatment_effects_20240101_000000.meta.json")  # any extension blocks it
    path = new_path(Artifact("effects", "imdb", ("x",)), "json").path
    assert path.name == "imdb_x_treatment_effects_20240101_000001.json"


def test_a_new_path_knows_its_sidecar_reservation_and_siblings(project_dir):
    reserved = new_path(Artifact("table", "imdb", ("vader",)), "csv")
    stem = reserved.path.stem
    assert reserved.stamp == reserved.artifact.stamp and stem.endswith(reserved.stamp)
    assert reserved.sidecar == reserved.path.with_name(f"{stem}.meta.json") == utils.meta_path(reserved.path)
    assert reserved.reservation == reserved.path.with_name(f".{stem}.reserved") and reserved.reservation.is_file()
    assert reserved.files(".md") == [reserved.path, reserved.path.with_name(f"{stem}.md"), reserved.sidecar,
                                     reserved.reservation]
    # while reserved, the name is no one else's: a second name asked for now waits for the next stamp
    assert new_path(Artifact("table", "imdb", ("vader",)), "csv").path != reserved.path
    reserved.release()
    assert not reserved.reservation.exists()


def test_latest_reads_sidecars_newest_stamp_first_never_the_mtime(project_dir):
    newest = made(project_dir, Artifact("rewrites", "imdb", stamp="20240103_000000"), mtime=1_000)
    made(project_dir, Artifact("rewrites", "imdb", stamp="20240102_000000"), mtime=3_000)
    assert latest("rewrites", "imdb", smoke=False) == newest
    # A name that says nothing of the sort is found all the same: the sidecar says what it is.
    renamed = newest.with_name("whatever.jsonl")
    newest.rename(renamed)
    meta = json.loads(utils.meta_path(newest).read_text())
    utils.meta_path(newest).unlink()
    utils.meta_path(renamed).write_text(json.dumps({**meta, "output": str(renamed)}))
    assert latest("rewrites", "imdb", smoke=False) == renamed


def test_latest_keeps_smoke_and_full_runs_datasets_models_runs_and_shards_apart(project_dir):
    full = made(project_dir, Artifact("scored", "imdb", ("vader", "armorm"), stamp="20240101_000000"))
    smoke = made(project_dir, Artifact("scored", "imdb", ("vader",), smoke=True, stamp="20240102_000000"))
    made(project_dir, Artifact("scored", "imdb_v2", ("vader",), stamp="20240109_000000"))  # shares a prefix
    made(project_dir, Artifact("scored", "imdb", ("vader",), part="shard-0-of-2", stamp="20240108_000000"))
    ours = made(project_dir, Artifact("scored", "imdb", ("brevity",), run="r1", stamp="20240103_000000"))
    assert latest("scored", "imdb", smoke=False) == ours
    assert latest("scored", "imdb", smoke=False, model="armorm") == full  # a model the file holds, not its name
    assert latest("scored", "imdb", smoke=True) == smoke
    assert latest("scored", "imdb", smoke=False, run="r1") == ours
    with pytest.raises(utils.RateError, match=r"no scored file of 'imdb' with rewards of 'vader' from run r1"):
        latest("scored", "imdb", smoke=False, model="vader", run="r1")


def test_a_stamp_tie_goes_to_the_file_written_last(project_dir):
    first = made(project_dir, Artifact("scored", "imdb", ("vader",), stamp="20240101_000000"))
    second = made(project_dir, Artifact("scored", "imdb", ("armorm",), stamp="20240101_000000"))
    os.utime(first, ns=(2 * 10**18, 2 * 10**18))
    os.utime(second, ns=(10**18, 10**18))
    assert latest("scored", "imdb", smoke=False) == first


def test_the_original_codes_files_are_found_by_their_own_names(project_dir):
    # The original names: rewrites `<dataset>_dataset_<stamp>[_smoke_test].json`, scored
    # `<dataset>_<model>[_smoke_test]_scored_<stamp>.jsonl`, effects `<dataset>_<concept>_<score>_...`.
    bare(project_dir, "data/rewrites", "imdb_length_dataset_20241028_142301_smoke_test.json")
    old_full = bare(project_dir, "data/rewrites", "imdb_length_dataset_20241028_142300.json")
    smoke = bare(project_dir, "data/scored", "imdb_length_armorm_smoke_test_scored_20241104_111220.jsonl")
    ours = bare(project_dir, "data/scored", "imdb_length_armorm_scored_smoke_test_20241101_000000.jsonl")
    bare(project_dir, "data/scored", "imdb_length_v2_armorm_scored_20250101_000000.jsonl")
    effects = bare(project_dir, "effects", "imdb_length_length_armorm_treatment_effects_20241120_172602.json")
    assert latest("rewrites", "imdb_length", smoke=True).name == "imdb_length_dataset_20241028_142301_smoke_test.json"
    assert latest("rewrites", "imdb_length", smoke=False) == old_full
    assert latest("scored", "imdb_length", smoke=True, model="armorm") == smoke
    os.rename(smoke, smoke.with_suffix(".bak"))
    assert latest("scored", "imdb_length", smoke=True, model="armorm") == ours
    assert latest("effects", "imdb_length", smoke=False, model="armorm", also=("imdb_length_length",)) == effects
    with pytest.raises(utils.RateError):
        latest("scored", "imdb_length", smoke=False, model="armorm")  # the v2 dataset is another dataset
    # With a run asked for, only files of that run count: never a file without an identity.
    with pytest.raises(utils.RateError):
        latest("rewrites", "imdb_length", smoke=False, run="r1")


def test_latest_names_the_folder_when_nothing_matches(project_dir):
    with pytest.raises(utils.RateError, match=re.escape(str(project_dir / "data" / "scored"))):
        latest("scored", "imdb", smoke=False)


def test_resolve_takes_a_path_or_latest_and_names_key_and_file_when_neither_is_there(project_dir, tmp_path):
    cfg = utils.load_config(None, [("scoring.dataset_filename", "no_such_file_4711.jsonl")])
    archived = bare(project_dir, "data/scored", "archive/imdb_length_sfairxc_scored_20240918_195038.jsonl")
    found = utils.artifacts.resolve("scored", "archive/imdb_length_sfairxc_scored_20240918_195038.jsonl",
                                    "scoring.dataset_filename", cfg, "imdb_length")
    assert found == archived.resolve()
    with pytest.raises(utils.RateError) as info:
        utils.artifacts.resolve("rewrites", "no_such_file_4711.jsonl", "scoring.dataset_filename", cfg, "imdb")
    assert str(info.value).startswith("command line: scoring.dataset_filename: no file 'no_such_file_4711.jsonl'")
    with pytest.raises(utils.RateError, match=r"^defaults: effects.dataset_filename: no smoke-test rewrites file"):
        utils.artifacts.resolve("rewrites", "latest", "effects.dataset_filename", utils.load_config(None, [
            ("smoke_test", "true")]), "imdb")


def test_lineage_and_upstream_follow_the_sidecars(project_dir):
    rewrites = made(project_dir, Artifact("rewrites", "imdb", stamp="20240101_000000"))
    meta = json.loads(utils.meta_path(rewrites).read_text())
    utils.meta_path(rewrites).write_text(json.dumps({**meta, "script": "create_dataset.py"}))
    scored = made(project_dir, Artifact("scored", "imdb", ("vader",), stamp="20240101_000001"))
    meta = json.loads(utils.meta_path(scored).read_text())
    utils.meta_path(scored).write_text(json.dumps({**meta, "script": "score_dataset.py", "inputs": [{"path": str(rewrites)}]}))
    assert utils.artifacts.lineage(scored) == [scored, rewrites]
    assert utils.artifacts.upstream_meta(scored, "create_dataset.py")["output"] == str(rewrites)
    assert identity(scored).models == ("vader",) and identity(project_dir / "nothing.jsonl") is None


# ---------------------------------------------------------------------------------------------
# The phases, as a user runs them
# ---------------------------------------------------------------------------------------------


def pattern_of(template: str) -> re.Pattern:
    """NAMES' documentation as a regular expression over a path under PROJECT_DIR."""
    text = re.escape(template)
    for placeholder, meaning in ((r"<dataset>", r"[A-Za-z0-9_.-]+?"), (r"<model>", r"[A-Za-z0-9_.-]+?"),
                                 (r"<stamp>", r"\d{8}_\d{6}"), (r"<i>", r"\d+"), (r"<N>", r"\d+")):
        text = text.replace(re.escape(placeholder), meaning)
    text = re.sub(r"\\\[(.+?)\\\]", lambda m: f"(?:{m.group(1)})?", text)
    text = text.replace(re.escape("_<reward key>"), r"_[A-Za-z0-9_.-]+")
    return re.compile(rf"{text}$")


@pytest.mark.slow
def test_readme_every_help_and_the_files_on_disk_agree_on_the_names(project_dir):
    # README and its pages under docs/ (the names are given in docs/phases.md, files.md and others).
    readme = "\n".join(p.read_text() for p in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))))
    helps = {script: subprocess.run([sys.executable, str(REPO / script), "--help"], capture_output=True, text=True,
                                    cwd=REPO).stdout for script in (*SCRIPTS, "run_experiments.py", "run_audit.py")}
    phase = {"rewrites": "create_dataset.py", "scored": "score_dataset.py", "shard": "score_dataset.py",
             "effects": "treatment_effects.py", "table": "treatment_effects.py", "estimates": "visualize.py",
             "report": "visualize.py", "experiment": "run_experiments.py", "audit": "run_audit.py"}
    for kind, name in NAMES.items():
        assert name in readme, f"neither README nor docs/*.md gives the {kind} name {name}"
        assert name in helps[phase[kind]], f"{phase[kind]} --help does not give the {kind} name {name}"
    written = []
    for smoke in ("false", "true"):
        for script in SCRIPTS:
            done = run_script(script, "--config", str(REPO / "config.yaml"), f"--smoke_test={smoke}",
                              "--rewrites.n_examples=60")
            assert done.returncode == 0, done.stderr[-2000:]
    for path in project_dir.rglob("*"):
        if path.is_file() and not path.name.endswith(".meta.json") and "/cache/" not in str(path) \
                and path.parent.name in ("rewrites", "scored", "effects", "plots"):
            written.append(path.relative_to(project_dir).as_posix())
    kinds = {kind: pattern_of(name) for kind, name in NAMES.items()}
    for path in written:
        # A forest plot's PDF twin, a table's and a report's markdown twin carry the same name.
        if path.endswith(".pdf"):
            path = path[:-4] + ".png"
        elif path.endswith(".md"):
            path = path[:-3] + (".html" if "_report_" in path else ".csv")
        assert any(p.fullmatch(path) for p in kinds.values()), f"{path} matches none of NAMES"
    assert sum("_smoke_test_" in p for p in written) >= 6 and sum("_smoke_test_" not in p for p in written) >= 6


@pytest.mark.slow
def test_a_pipeline_hands_each_phase_the_file_the_phase_before_wrote(project_dir):
    """`make pipeline` with overrides: every phase takes its input by the run's id, so a newer file of
    the same dataset written by someone else meanwhile (here: stamped in 2099) is never taken."""
    interloper = made(project_dir, Artifact("rewrites", "synthetic_sentiment", stamp="20991231_235959"))
    interloper.write_text("")
    done = subprocess.run(["make", "--no-print-directory", "pipeline", "RUN=local",
                           "ARGS=--rewrites.n_examples=300 --scoring.models=[vader]"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "PROJECT_DIR": str(project_dir), "PARTITION": ""}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (effects,) = [p for p in (project_dir / "effects").glob("*_treatment_effects_*.json") if ".meta." not in p.name]
    results = json.loads(effects.read_text())
    assert results["Y1_count"] + results["Y0_count"] == 300
    chain = utils.artifacts.lineage(effects)
    assert interloper not in chain and len(chain) == 3
    runs = {identity(path).run for path in chain}
    assert len(runs) == 1 and runs.pop()


@pytest.mark.slow
def test_a_phase_alone_says_when_latest_was_made_with_other_settings(project_dir):
    config = ["--config", str(REPO / "config.yaml")]
    assert run_script("create_dataset.py", *config, "--rewrites.n_examples=100").returncode == 0
    done = run_script("score_dataset.py", *config, "--rewrites.n_examples=50")
    assert done.returncode == 0, done.stderr[-2000:]
    warning = next(line for line in done.stderr.splitlines() if "made with other settings" in line)
    assert "rewrites.n_examples 100 there, 50 here" in warning and "scoring.dataset_filename" in warning
    same = run_script("treatment_effects.py", *config, "--rewrites.n_examples=100")
    assert same.returncode == 0 and "made with other settings" not in same.stderr


def test_a_killed_runs_listed_files_and_their_half_written_temporaries_are_removed(tmp_path):
    """A run killed inside atomic_write leaves `.<name>.<random>.tmp`; the next all_or_none there
    removes it with the listed files, and leaves other runs' files alone."""
    from utils.artifacts import abandon_incomplete

    listed = tmp_path / "figure[1]_20260101_000000.png"  # brackets: the name is matched literally
    listed.write_text("half")
    temporary = tmp_path / f".{listed.name}.k3x9q.tmp"
    temporary.write_text("half")
    other = tmp_path / ".figure1_20260101_000000.png.abcde.tmp"
    other.write_text("another run's")
    (tmp_path / ".killed.incomplete").write_text(f"{listed}\n")
    abandon_incomplete(tmp_path)
    assert not listed.exists() and not temporary.exists()
    assert other.exists() and not (tmp_path / ".killed.incomplete").exists()
