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


def run_script(script: str, *args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """Run one of the four scripts as a user would, in a subprocess."""
    return subprocess.run([sys.executable, str(REPO / script), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=300)
