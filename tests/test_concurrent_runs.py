"""Two runs at once on one PROJECT_DIR: the second run of the same work refuses at once with one line
naming the first (the server counts that nothing is sent twice), while runs of different work go side
by side and keep their outputs under distinct names."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_script
from fake_openai import BatchPlan, FakeOpenAI
from test_create_dataset_engine import ENV, args, output_of, sentiment_responder

pytestmark = pytest.mark.slow

SMOKE = ("--config", str(REPO / "config.yaml"), "--smoke_test=true")


def start(script: str, *arguments: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / script), *arguments], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def wait_for(condition, what: str, process: subprocess.Popen | None = None, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process is None or process.poll() is None, f"the run ended before {what}: {process.stderr.read()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.02)


def assert_refused_naming(done: subprocess.CompletedProcess, first: subprocess.Popen) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "is being made by another run" in last and f"pid {first.pid}" in last, last
    assert "Traceback" not in done.stderr
    # refused at once, not after waiting for the lock: the first run still holds it
    assert first.poll() is None, "the second run waited for the first to end"


@pytest.fixture
def slow_server(project_dir):
    # Every answer takes 0.3 s, so the first run is still sending when the second starts.
    fake = FakeOpenAI(sentiment_responder(), latency=0.3).start()
    yield fake
    fake.stop()


def test_a_second_openai_run_of_the_same_dataset_refuses_and_nothing_is_paid_twice(slow_server, project_dir):
    first = start("create_dataset.py", *args(slow_server, "--rewrites.max_concurrency=4"), env=ENV)
    wait_for(lambda: len(slow_server.chat_received) >= 1, "first request", first)
    second = run_script("create_dataset.py", *args(slow_server), env=ENV)
    assert_refused_naming(second, first)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err[-2000:]
    records, _ = output_of(subprocess.CompletedProcess(first.args, 0, out, err))
    prompts = [json.dumps(body["messages"]) for body in slow_server.chat_received]
    assert len(prompts) == len(set(prompts)) == 60, "a request was sent twice"
    # The run after it finds every answer in the cache: the cache stayed whole.
    again, _ = output_of(run_script("create_dataset.py", *args(slow_server), env=ENV))
    assert len(slow_server.chat_received) == 60 and again == records


def test_a_second_batch_run_refuses_and_no_batch_is_submitted_twice(project_dir):
    fake = FakeOpenAI(sentiment_responder()).start()
    try:
        fake.batch_plans = [BatchPlan(polls=10**6)]  # the first batch runs until the test lets it finish
        first = start("create_dataset.py", *args(fake, "--rewrites.backend=openai_batch"), env=ENV)
        wait_for(lambda: fake.batch_lines, "first batch", first)
        second = run_script("create_dataset.py", *args(fake, "--rewrites.backend=openai_batch"), env=ENV)
        assert_refused_naming(second, first)
        (only,) = fake.batches.values()
        only["plan"].polls = 0
        out, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-2000:]
        assert [len(lines) for lines in fake.batch_lines] == [30, 30], "a batch round was submitted twice"
    finally:
        fake.stop()


def lock_files(project: Path) -> list[Path]:
    return sorted((project / ".locks").glob("*.lock")) if (project / ".locks").is_dir() else []


@pytest.mark.parametrize("phase", ["create_dataset.py", "score_dataset.py"])
def test_a_run_paused_while_it_holds_its_lock_turns_the_second_away_and_a_killed_one_does_not(phase, project_dir):
    """The first run is stopped (SIGSTOP) as soon as its lock exists: the second refuses, naming it.
    Killed (SIGKILL) instead, it leaves no lock behind: the kernel drops it with the process."""
    if phase == "score_dataset.py":
        assert run_script("create_dataset.py", *SMOKE).returncode == 0
    first = start(phase, *SMOKE)
    wait_for(lambda: lock_files(project_dir), "lock", first)
    first.send_signal(signal.SIGSTOP)
    try:
        second = run_script(phase, *SMOKE)
        assert_refused_naming(second, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert run_script(phase, *SMOKE).returncode == 0, "a killed run's lock outlived it"
    assert lock_files(project_dir) == [], "a finished run leaves its lock file"


def test_runs_of_different_work_go_side_by_side_and_every_output_survives(project_dir):
    """Four effects runs on one scored file at once (no lock: they pay for nothing), finishing within
    the same second: four outputs, four names, each with its sidecar."""
    for script in ("create_dataset.py", "score_dataset.py"):
        assert run_script(script, *SMOKE).returncode == 0
    runs = [start("treatment_effects.py", *SMOKE) for _ in range(4)]
    outputs = []
    for process in runs:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        outputs.append(Path(next(line for line in out.splitlines() if line.endswith(".json"))))
    assert len(set(outputs)) == 4
    for output in outputs:
        assert output.is_file() and output.with_name(output.stem + ".meta.json").is_file()
    assert not list((project_dir / "effects").glob(".*")), "reservations or temporary files were left"


def test_the_files_of_a_figure_run_killed_halfway_are_removed_by_the_next(project_dir):
    """visualize.py is killed while it draws: the list of files it was making is left unlocked, and the
    next visualize run removes them before writing its own. One whole set remains."""
    for script in ("create_dataset.py", "score_dataset.py", "treatment_effects.py"):
        assert run_script(script, *SMOKE).returncode == 0
    plots = project_dir / "plots"
    first = start("visualize.py", *SMOKE)
    wait_for(lambda: plots.is_dir() and list(plots.glob(".*.incomplete")), "list of files", first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    (marker,) = plots.glob(".*.incomplete")
    listed = [Path(line) for line in marker.read_text().splitlines()]
    assert listed, "the killed run listed nothing"
    done = run_script("visualize.py", *SMOKE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "removing the files of an interrupted run" in done.stderr
    assert not any(path.exists() for path in listed), "a file of the killed run survived"
    assert len(list(plots.glob("*_estimates_*.png"))) == 1 and len(list(plots.glob("*_report_*.html"))) == 1
    assert not list(plots.glob(".*")), "a list or a reservation was left"
