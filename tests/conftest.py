"""Shared fixtures. Every test runs offline, with PROJECT_DIR in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def project_dir(tmp_path, monkeypatch) -> Path:
    """A fresh PROJECT_DIR; GROUP_NAME and PARTITION from a developer's shell are cleared."""
    path = tmp_path / "project"
    monkeypatch.setenv("PROJECT_DIR", str(path))
    monkeypatch.delenv("GROUP_NAME", raising=False)
    monkeypatch.delenv("PARTITION", raising=False)
    return path


@pytest.fixture
def server(project_dir, monkeypatch):
    """A fresh local OpenAI-compatible server (tests/fake_openai.py) on 127.0.0.1, with a test key set
    and any OPENAI_BASE_URL of the developer's shell cleared."""
    from fake_openai import FakeOpenAI

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


# The module whose main(argv) each command-line script calls (the scripts hold only their usage).
MAINS = {"create_dataset.py": "phases.create_dataset", "score_dataset.py": "phases.score_dataset",
         "treatment_effects.py": "phases.treatment_effects", "visualize.py": "phases.visualize",
         "run_experiments.py": "experiments.cli", "run_audit.py": "audit.cli"}


def run_script(script: str, *args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run one of the scripts' main(argv) in this process, as its script's `utils.run_cli` does, with
    `env` added to the environment, `cwd` as the working directory, and stdout, stderr (logging and
    progress bars included) and the exit code captured as a subprocess's would be. An error the
    script would not catch is a traceback on stderr and exit code 1, as in a subprocess. Environment,
    working directory and logging handlers are restored afterwards."""
    import contextlib
    import importlib
    import io
    import logging
    import traceback

    import utils

    module = importlib.import_module(MAINS[script])
    out, err = io.StringIO(), io.StringIO()
    environment, where, root = dict(os.environ), os.getcwd(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    os.environ.update(env or {})
    os.chdir(cwd)
    root.handlers = []  # so that the phase's logging.basicConfig writes to the captured stderr
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = utils.run_cli(module.main, list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except Exception:  # what the interpreter does with an uncaught error
                traceback.print_exc()
                code = 1
    finally:
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(where)
        root.handlers, root.level = handlers, level
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


def run_process(script: str, *args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run one of the scripts as a user would, in a subprocess: for what only a process shows (a kill,
    a missing package, the interpreter's start-up, the script file itself)."""
    return subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)
