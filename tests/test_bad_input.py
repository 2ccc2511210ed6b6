"""A battery of bad inputs across the four scripts. Each must end with exit code 2 and one `error:`
line on stderr (the last line) that names the file or key at fault, never a traceback, and must leave
every file under PROJECT_DIR as it was: byte for byte, and no new ones.

Each case starts from a copy of one finished smoke-test pipeline (simulated rewriter, vader), then
plants its bad input: a file, an override, or an environment variable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, run_script

SMOKE = ("--config", str(REPO / "config.yaml"), "--smoke_test=true")
PHASES = ["create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py"]
LATER = "29990101_000000"  # a stamp newer than any run's, so that `latest` takes the planted file


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """One smoke-test run of all four phases, the project every case starts from."""
    project = tmp_path_factory.mktemp("battery") / "project"
    env = {"PROJECT_DIR": str(project)}
    for script in PHASES:
        done = run_script(script, *SMOKE, env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    return project


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root with its content's digest (links and folders marked as such)."""
    found = {}
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = "link -> " + os.readlink(path)
        elif path.is_dir():
            found[name] = "folder"
        else:
            found[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def newest(project: Path, folder: str, suffix: str) -> Path:
    return max((p for p in (project / folder).glob(f"*{suffix}") if not p.name.endswith(".meta.json")),
               key=lambda p: p.name)


def plant(project: Path, folder: str, suffix: str, content: bytes | None, *, kind: str = "file") -> Path:
    """A copy of the newest output of `folder`, stamped later, with its sidecar, whose data is
    `content` (or a folder, or a dangling link); `latest` picks it up."""
    real = newest(project, folder, suffix)
    stamp = real.name[-len(suffix) - 15:-len(suffix)]
    target = real.with_name(real.name.replace(stamp, LATER))
    sidecar = real.with_name(real.name[:-len(suffix)] + ".meta.json")
    target.with_name(target.name[:-len(suffix)] + ".meta.json").write_text(
        sidecar.read_text().replace(stamp, LATER))
    if kind == "folder":
        target.mkdir()
    elif kind == "link":
        target.symlink_to(project / "nowhere.jsonl")
    else:
        target.write_bytes(content)
    return target


def records(project: Path, folder: str = "data/rewrites") -> list[dict]:
    path = newest(project, folder, ".jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def planted_records(folder: str, change) -> callable:
    """A case that plants the newest records of `folder` with `change(records)` applied."""
    def setup(project: Path):
        rows = records(project, folder)
        change(rows)
        plant(project, folder, ".jsonl", "".join(json.dumps(r) + "\n" for r in rows).encode())
    return setup


def drop(key: str, where: int = 0):
    def change(rows):
        del rows[where][key]
    return change


def put(key: str, value, where: int = 0):
    def change(rows):
        rows[where][key] = value
    return change


def rewrite_config(text: str) -> callable:
    def setup(project: Path):
        path = project.parent / "bad.yaml"
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        return {"config": str(path)}
    return setup


def corrupt_sidecar(folder: str, suffix: str):
    def setup(project: Path):
        target = plant(project, folder, suffix, newest(project, folder, suffix).read_bytes())
        target.with_name(target.name[:-len(suffix)] + ".meta.json").write_text("{not json")
    return setup


def imdb_from(name: str, content: bytes | str | None = None):
    """A config for imdb_length reading the local file `name` (in the folder above PROJECT_DIR)."""
    def setup(project: Path):
        path = Path(name) if Path(name).is_absolute() else project.parent / name
        if content == "folder":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content)
        config = project.parent / "imdb.yaml"
        # A key and a server that is never reached: the file is read before any request.
        config.write_text(f"rewrites:\n  dataset_name: imdb_length\n  base_url: http://127.0.0.1:9/v1\n"
                          f"  template_options:\n    local_path: {path}\n")
        return {"config": str(config), "env": {"OPENAI_API_KEY": "sk-test-not-a-real-key"}}
    return setup


def named(section: str, make, key: str = "dataset_filename"):
    """Name the planted file on the command line: `latest` passes over a sidecar without its file."""
    def setup(project: Path):
        return {"args": [f"--{section}.{key}={make(project)}"]}
    return setup


def first_effects(project: Path) -> Path:
    return newest(project, "effects", ".json")


S, C, E, V = "score_dataset.py", "create_dataset.py", "treatment_effects.py", "visualize.py"
SCORED = "data/scored"

# (id, script, extra arguments, setup, words the error line must hold). A setup may return
# {"config": path} to replace the config, or {"env": {...}} to set environment variables.
CASES = [
    # -- the config file and the command line, for every script -----------------------------------
    *[(f"config-not-utf8-{s[:-3]}", s, (), rewrite_config(b"rewrites:\n  model: caf\xe9\n"), ["bad.yaml", "UTF-8"])
      for s in PHASES],
    *[(f"config-bad-yaml-{s[:-3]}", s, (), rewrite_config("rewrites: [unclosed\n"), ["bad.yaml"]) for s in PHASES],
    *[(f"config-unknown-key-{s[:-3]}", s, (), rewrite_config("scoring:\n  modle: vader\n"),
       ["bad.yaml", "scoring.modle"]) for s in PHASES],
    *[(f"unknown-override-{s[:-3]}", s, ("--effects.alhpa=0.1",), None, ["effects.alhpa"]) for s in PHASES],
    ("config-a-list", S, (), rewrite_config("- 1\n- 2\n"), ["bad.yaml"]),
    ("config-section-a-list", S, (), rewrite_config("scoring: [1, 2]\n"), ["bad.yaml", "scoring"]),
    ("config-missing", S, ("--config=/nonexistent/c.yaml",), None, ["/nonexistent/c.yaml"]),
    ("config-a-folder", S, (), lambda p: {"config": str(p.parent)}, [None]),
    ("stray-argument", S, ("extra",), None, ["extra"]),
    ("smoke-test-not-bool", S, ("--smoke_test=maybe",), None, ["smoke_test"]),
    # -- create_dataset: ranges and names checked before anything is loaded ------------------------
    ("n-examples-zero", C, ("--smoke_test=false", "--rewrites.n_examples=0"), None, ["rewrites.n_examples", "at least 1"]),
    ("n-examples-negative", C, ("--smoke_test=false", "--rewrites.n_examples=-5"), None, ["rewrites.n_examples"]),
    ("smoke-examples-zero", C, ("--rewrites.smoke_test_examples=0",), None, ["rewrites.smoke_test_examples"]),
    ("p-positive-two", C, ("--rewrites.template_options.p_positive=2.0",), None,
     ["rewrites.template_options.p_positive", "[0, 1]"]),
    ("corpus-size-zero", C, ("--rewrites.template_options.corpus_size=0",), None, ["corpus_size"]),
    ("template-option-unknown", C, ("--rewrites.template_options.p_postive=0.5",), None, ["p_postive", "p_positive"]),
    ("template-option-type", C, ("--rewrites.template_options.max_typos=many",), None, ["max_typos"]),
    ("template-option-choice", C, (), rewrite_config("rewrites:\n  dataset_name: hh_rlhf_helpfulness\n  template_options:\n"
                                                     "    turn_format: html\n"),
     ["bad.yaml", "rewrites.template_options.turn_format", "'original', 'plain'"]),
    ("unknown-dataset", C, ("--rewrites.dataset_name=no_such_dataset",), None, ["rewrites.dataset_name", "no_such_dataset"]),
    ("unknown-backend", C, ("--rewrites.backend=no_such_backend",), None, ["rewrites.backend", "no_such_backend"]),
    ("backend-option-range", C, ("--rewrites.backend_options.failure_rate=1.5",), None, ["failure_rate", "[0, 1]"]),
    ("backend-option-unknown", C, ("--rewrites.backend_options.failure=0.1",), None, ["failure_rate"]),
    ("max-concurrency-zero", C, ("--rewrites.max_concurrency=0",), None, ["rewrites.max_concurrency"]),
    ("timeout-negative", C, ("--rewrites.timeout=-1",), None, ["rewrites.timeout"]),
    ("temperature-text", C, ("--rewrites.temperature=warm",), None, ["rewrites.temperature"]),
    ("max-retries-negative", C, ("--rewrites.max_retries=-1",), None, ["rewrites.max_retries"]),
    ("price-one-number", C, ("--rewrites.price_per_million_tokens=[1]",), None, ["price_per_million_tokens"]),
    ("price-negative", C, ("--rewrites.price_per_million_tokens=[1,-2]",), None, ["price_per_million_tokens"]),
    ("judge-method-unknown", C, ("--judge.method=vote",), None, ["judge.method"]),
    ("judge-max-tokens-zero", C, ("--judge.max_tokens=0",), None, ["judge.max_tokens"]),
    ("min-efficacy-above-one", C, ("--effects.min_efficacy=1.5",), None, ["effects.min_efficacy"]),
    ("openai-without-key", C, ("--rewrites.backend=openai",), lambda p: {"env": {"OPENAI_API_KEY": ""}},
     ["OPENAI_API_KEY"]),
    ("batch-without-key", C, ("--rewrites.backend=openai_batch",), lambda p: {"env": {"OPENAI_API_KEY": ""}},
     ["OPENAI_API_KEY"]),
    ("group-unknown", C, (), lambda p: {"env": {"GROUP_NAME": "rate_no_such_group_4711"}}, ["GROUP_NAME"]),
    ("transformers-model-missing", C, ("--rewrites.backend=transformers", "--rewrites.model=/nonexistent/model"), None,
     ["/nonexistent/model"]),
    ("local-file-missing", C, (), imdb_from("/nonexistent/imdb.jsonl"), ["/nonexistent/imdb.jsonl"]),
    ("local-file-not-utf8", C, (), imdb_from("imdb.jsonl", b'{"text": "caf\xe9", "label": 1}\n'), ["imdb.jsonl"]),
    ("local-file-not-records", C, (), imdb_from("imdb.json", b"[1, 2]"), ["imdb.json"]),
    ("local-file-a-folder", C, (), imdb_from("imdb_folder.jsonl", "folder"), ["imdb_folder.jsonl"]),
    ("response-cache-corrupt", C, ("--rewrites.backend=openai", "--rewrites.base_url=http://127.0.0.1:9/v1"),
     lambda p: (p / "data" / "cache" / "responses.sqlite").write_bytes(b"this is not a database" * 100) and None,
     ["responses.sqlite"]),
    ("batch-state-corrupt", C, ("--rewrites.backend=openai_batch", "--rewrites.base_url=http://127.0.0.1:9/v1"),
     lambda p: ((p / "data" / "batch_api").mkdir(parents=True, exist_ok=True),
                (p / "data" / "batch_api" / "file-1.batch.json").write_text("{half")) and None,
     ["file-1.batch.json"]),
    ("rewriter-unreachable", C, ("--rewrites.backend=openai", "--rewrites.base_url=http://127.0.0.1:9/v1",
                                 "--rewrites.max_retries=0"), lambda p: {"env": {"OPENAI_API_KEY": "sk-test"}},
     ["every one of the 30 rewrites failed", "connection error"]),
    ("project-dir-a-file", C, (), lambda p: (p.parent / "a_file").write_text("x") and None
     or {"env": {"PROJECT_DIR": str(p.parent / "a_file")}}, ["a_file"]),
    ("dry-run-bad-range", C, ("--rewrites.dry_run=true", "--rewrites.n_examples=0", "--smoke_test=false"), None,
     ["rewrites.n_examples"]),
    # -- score_dataset: the input records and the models --------------------------------------------
    ("unknown-model", S, ("--scoring.model=no_such_model",), None, ["scoring.model", "no_such_model"]),
    ("hf-path-missing", S, ("--scoring.model=hf:/nonexistent/rm",), None, ["/nonexistent/rm"]),
    ("hf-bad-repo-id", S, ("--scoring.model=hf:not a/valid//id",), None, ["not a/valid//id"]),
    ("model-listed-twice", S, ("--scoring.models=[vader,vader]",), None, ["scoring.models"]),
    ("model-option-unknown", S, ("--scoring.model_options.weight=1",), None, ["scoring.model_options.weight"]),
    ("model-option-type", S, ("--scoring.model_options.typo_penalty=high",), None, ["typo_penalty"]),
    ("model-option-choice", S, ("--scoring.model=armorm", "--scoring.model_options.dtype=half"), None,
     ["command line", "scoring.model_options.dtype", "bfloat16"]),
    ("scoring-dtype-choice", S, ("--scoring.dtype=half",), None, ["command line", "scoring.dtype", "bfloat16"]),
    ("batch-size-zero", S, ("--scoring.batch_size=0",), None, ["scoring.batch_size"]),
    ("shard-not-a-fraction", S, ("--shard=abc",), None, ["scoring.shard"]),
    ("shard-beyond-count", S, ("--shard=3/2",), None, ["scoring.shard"]),
    ("shard-of-zero", S, ("--shard=0/0",), None, ["scoring.shard"]),
    ("shard-selects-nothing", S, ("--shard=40/50",), None, ["scoring.shard"]),
    ("input-named-missing", S, ("--scoring.dataset_filename=nope.jsonl",), None, ["nope.jsonl"]),
    ("dataset-folder-unknown", S, ("--scoring.dataset_folder=elsewhere",), None, ["scoring.dataset_folder"]),
    ("input-not-utf8", S, (), lambda p: plant(p, "data/rewrites", ".jsonl", b'{"id": "caf\xe9"}\n') and None,
     [LATER, "UTF-8"]),
    ("input-line-a-list", S, (), lambda p: plant(p, "data/rewrites", ".jsonl", b"[1, 2]\n") and None,
     [LATER, "line 1"]),
    ("input-line-not-json", S, (), lambda p: plant(p, "data/rewrites", ".jsonl", b'{"id": 1}\n{"id": \n') and None,
     [LATER, "line 2"]),
    ("input-empty", S, (), lambda p: plant(p, "data/rewrites", ".jsonl", b"") and None, [LATER, "no records"]),
    ("input-a-folder", S, (), named("scoring", lambda p: plant(p, "data/rewrites", ".jsonl", None, kind="folder")),
     [LATER]),
    ("input-a-dangling-link", S, (), named("scoring", lambda p: plant(p, "data/rewrites", ".jsonl", None, kind="link")),
     [LATER]),
    ("input-sidecar-corrupt", S, (), corrupt_sidecar("data/rewrites", ".jsonl"), [LATER]),
    ("record-without-question", S, (), planted_records("data/rewrites", drop("reward_question")),
     [LATER, "reward_question"]),
    ("record-without-completions", S, (), planted_records("data/rewrites", drop("completions")), [LATER, "completions"]),
    ("record-completion-a-number", S, (), planted_records("data/rewrites", lambda rows: rows[0]["completions"].update(
        original=5)), [LATER, "completions.original"]),
    ("record-w-a-word", S, (), planted_records("data/rewrites", put("w_original", "yes")), [LATER, "w_original"]),
    ("record-id-twice", S, (), planted_records("data/rewrites", lambda rows: rows[1].update(id=rows[0]["id"])),
     [LATER, "repeats id"]),
    ("original-json-a-list", S, (), lambda p: (p.parent / "old.json").write_text("[1, 2]") and None
     or {"args": [f"--scoring.dataset_filename={p.parent / 'old.json'}"]}, ["old.json"]),
    ("merge-without-shards", S, ("--merge",), None, ["shard"]),
    ("merge-missing-file", S, ("--merge=/nonexistent/a.jsonl",), None, ["/nonexistent/a.jsonl"]),
    # -- treatment_effects ---------------------------------------------------------------------------
    ("alpha-one", E, ("--effects.alpha=1",), None, ["effects.alpha"]),
    ("bootstrap-negative", E, ("--effects.bootstrap_resamples=-1",), None, ["effects.bootstrap_resamples"]),
    ("low-efficacy-unknown", E, ("--effects.low_efficacy=maybe",), None, ["effects.low_efficacy"]),
    ("reward-key-missing", E, ("--effects.reward_key=no_such_key",), None, ["no_such_key"]),
    ("effects-input-missing", E, ("--effects.dataset_filename=nope.jsonl",), None, ["nope.jsonl"]),
    ("scored-not-utf8", E, (), lambda p: plant(p, SCORED, ".jsonl", b'{"id": "caf\xe9"}\n') and None, [LATER, "UTF-8"]),
    ("scored-empty", E, (), lambda p: plant(p, SCORED, ".jsonl", b"") and None, [LATER]),
    ("scored-line-a-string", E, (), lambda p: plant(p, SCORED, ".jsonl", b'"text"\n') and None, [LATER, "line 1"]),
    ("scored-reward-a-word", E, (), planted_records(SCORED, lambda rows: [r.update(
        {k: {c: "high" for c in v} for k, v in r.items() if k.startswith("vader")}) for r in rows]), [LATER]),
    ("scored-sidecar-corrupt", E, (), corrupt_sidecar(SCORED, ".jsonl"), [LATER]),
    ("scored-without-w", E, (), planted_records(SCORED, lambda rows: [r.pop("w_original") for r in rows]), [LATER]),
    # -- visualize -------------------------------------------------------------------------------------
    ("dpi-too-small", V, ("--visualize.dpi=5",), None, ["visualize.dpi"]),
    ("sample-rewrites-negative", V, ("--visualize.sample_rewrites=-1",), None, ["visualize.sample_rewrites"]),
    ("effects-file-missing", V, ("--visualize.effects_filename=nope.json",), None, ["nope.json"]),
    ("effects-not-json", V, (), lambda p: plant(p, "effects", ".json", b"{half") and None, [LATER]),
    ("effects-not-utf8", V, (), lambda p: plant(p, "effects", ".json", b'{"a": "caf\xe9"}') and None, [LATER]),
    ("effects-a-list", V, (), lambda p: plant(p, "effects", ".json", b"[1, 2]") and None, [LATER]),
    ("effects-a-folder", V, (), named("visualize", lambda p: plant(p, "effects", ".json", None, kind="folder"),
                                      key="effects_filename"), [LATER]),
    ("effects-without-estimates", V, (), lambda p: plant(p, "effects", ".json", b'{"dataset": "x"}') and None, [LATER]),
    ("sweep-without-key", V, (), lambda p: {"args": [f"--visualize.sweep_files=[{first_effects(p)}]"]},
     ["visualize.sweep"]),
]


def test_the_battery_is_large_and_its_names_are_unique():
    assert len(CASES) >= 60
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("name, script, args, setup, needles", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(finished, tmp_path, name, script, args, setup, needles):
    project = tmp_path / "project"
    shutil.copytree(finished, project, symlinks=True)
    config, env, extra = str(REPO / "config.yaml"), {"PROJECT_DIR": str(project)}, []
    planted = setup(project) if setup else None
    if planted:
        config = planted.get("config", config)
        env.update(planted.get("env", {}))
        extra = planted.get("args", [])
    before = snapshot(project)

    done = run_script(script, "--config", config, "--smoke_test=true", *args, *extra, env=env)

    assert done.returncode == 2, f"exit {done.returncode}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], done.stderr[-3000:]
    for needle in needles:
        if needle is not None:
            assert needle in errors[0], errors[0]
    assert done.stdout == ""
    assert snapshot(project) == before, "the failed run changed PROJECT_DIR"


def test_a_project_dir_this_user_cannot_write_is_one_line(finished):
    """Permissions do not bind root, so as root the script runs as `nobody` (setpriv) over a PROJECT_DIR
    that root owns; as any other user, over one made read-only."""
    import subprocess
    import sys

    project = Path(tempfile.mkdtemp(prefix="rate-read-only-")) / "project"
    shutil.copytree(finished, project, symlinks=True)
    folders = [project.parent, project, *(p for p in project.rglob("*") if p.is_dir())]
    command = [sys.executable, str(REPO / "score_dataset.py"), *SMOKE]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv to become another user")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    for folder in folders:
        folder.chmod(0o555)
    before = snapshot(project)
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300,
                              env={**os.environ, "PROJECT_DIR": str(project), "HOME": str(project.parent),
                                   "MPLCONFIGDIR": str(project.parent)})
    finally:
        for folder in folders:
            folder.chmod(0o755)
    after = snapshot(project)
    shutil.rmtree(project.parent)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and str(project) in last and "ermission" in last, last
    assert after == before
