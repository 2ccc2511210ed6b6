"""The Make targets on a real single-node SLURM cluster that the test brings up (slurm/local_cluster.sh).

Needs root and the Debian packages slurmctld, slurmd, slurm-client and munge; .ci/run installs them.
Without them the tests are skipped, except under CI (CI=true), where a missing cluster is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "DEADLINE"}
# Small enough for a 2-core CI machine; the Makefile's defaults are sized for real clusters.
SMALL = "--cpus-per-task=1 --mem=1G --time=00:15:00"


def have_slurm() -> bool:
    return all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged")) and os.geteuid() == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if not have_slurm():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the SLURM tests: slurmctld/slurmd/munge missing or not root")
        pytest.skip("SLURM daemons not installed (apt-get install slurmctld slurmd slurm-client munge) or not root")
    # not under pytest's private tmp folder: munged runs as the munge user and must reach it
    folder = Path(tempfile.mkdtemp(prefix="rate-slurm-", dir="/tmp"))
    script = REPO / "slurm/local_cluster.sh"
    started = subprocess.run([str(script), "start", str(folder)], capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        yield {"SLURM_CONF": str(folder / "slurm.conf"), "PARTITION": "ratetest"}
    finally:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True, text=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def make(target: str, env: dict, *variables: str, timeout: int = 300) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("RUN", "PARTITION", "MAKEFLAGS", "MFLAGS")}
    resources = {f"SBATCH_{phase}": SMALL for phase in
                 ("create_dataset", "score_dataset", "merge", "treatment_effects", "visualize", "run_audit")}
    return subprocess.run(["make", "--no-print-directory", target, *variables], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**base, **resources, **env})


def job_ids(printed: str) -> list[str]:
    return re.findall(r"job (\d+)", printed)


def wait_for(jobs: list[str], env: dict, timeout: float = 300) -> dict[str, str]:
    """Poll scontrol until every job has ended; returns each job's final state."""
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for job in jobs:
            shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True,
                                   env={**os.environ, **env})
            # an array job shows one line per task; it has ended when every task has
            found = re.findall(r"JobState=(\w+)", shown.stdout)
            if found and all(state in TERMINAL for state in found):
                states[job] = "COMPLETED" if all(s == "COMPLETED" for s in found) else sorted(set(found) - {"COMPLETED"})[0]
        if len(states) == len(jobs):
            return states
        time.sleep(0.5)
    raise AssertionError(f"jobs did not finish in {timeout} s: {jobs}, ended: {states}")


def effects_of(project: Path) -> dict:
    [path] = [p for p in (project / "effects").glob("*_treatment_effects_*.json") if not p.name.endswith(".meta.json")]
    effects = json.loads(path.read_text())
    return {k: v for k, v in effects.items() if k != "input_file"}


def test_pipeline_chain_on_slurm_equals_a_local_run(cluster, tmp_path):
    slurm_project, local_project = tmp_path / "slurm", tmp_path / "local"
    args = "ARGS=--rewrites.n_examples=300"
    # GPUS left at auto: vader needs no GPU, so scoring asks for none and this CPU-only partition takes it
    submitted = make("pipeline", {**cluster, "PROJECT_DIR": str(slurm_project)}, args)
    assert submitted.returncode == 0, submitted.stderr
    jobs = job_ids(submitted.stdout)
    assert len(jobs) == 4, submitted.stdout
    assert wait_for(jobs, cluster) == {job: "COMPLETED" for job in jobs}
    for phase, job in zip(("create_dataset", "score_dataset", "treatment_effects", "visualize"), jobs):
        assert (REPO / "logs" / f"rate-{phase}_{job}.out").is_file()

    local = make("pipeline", {"PROJECT_DIR": str(local_project), "RUN": "local"}, args)
    assert local.returncode == 0, local.stderr
    assert effects_of(slurm_project) == effects_of(local_project)


def test_a_failed_phase_cancels_the_phases_after_it(cluster, tmp_path):
    submitted = make("pipeline", {**cluster, "PROJECT_DIR": str(tmp_path), "GPUS": "0"},
                     "ARGS=--rewrites.n_examples=50 --scoring.model=no_such_model")
    assert submitted.returncode == 0, submitted.stderr
    jobs = job_ids(submitted.stdout)
    states = wait_for(jobs, cluster)
    assert [states[j] for j in jobs] == ["COMPLETED", "FAILED", "CANCELLED", "CANCELLED"]


def test_a_gpu_request_on_a_cluster_without_gpus_is_refused_plainly(cluster, tmp_path):
    refused = make("score_dataset", {**cluster, "PROJECT_DIR": str(tmp_path), "GPUS": "1"})
    assert refused.returncode != 0
    assert "rejected the GPU request of score_dataset (--gres=gpu:1)" in refused.stderr
    assert "GPUS=0" in refused.stderr


def test_sharded_scoring_is_an_array_job_and_a_merge_that_equal_one_run(cluster, tmp_path):
    slurm_project, local_project = tmp_path / "slurm", tmp_path / "local"
    created = make("create_dataset", {"PROJECT_DIR": str(slurm_project), "RUN": "local"},
                   "ARGS=--rewrites.n_examples=120")
    assert created.returncode == 0, created.stderr
    shutil.copytree(slurm_project, local_project)

    submitted = make("score_dataset", {**cluster, "PROJECT_DIR": str(slurm_project), "GPUS": "0"}, "SHARDS=3")
    assert submitted.returncode == 0, submitted.stderr
    array_job, merge_job = job_ids(submitted.stdout)
    assert "array job" in submitted.stdout and "(3 shards)" in submitted.stdout
    assert wait_for([array_job, merge_job], cluster) == {array_job: "COMPLETED", merge_job: "COMPLETED"}
    for task in range(3):
        assert (REPO / "logs" / f"rate-score_dataset_{array_job}_{task}.out").is_file()
    shards = sorted((slurm_project / "data/scored").glob("*_shard-*-of-3_*.jsonl"))
    assert len(shards) == 3

    single = make("score_dataset", {"PROJECT_DIR": str(local_project), "RUN": "local"})
    assert single.returncode == 0, single.stderr

    def scored(project: Path) -> list[dict]:
        [path] = [p for p in (project / "data/scored").glob("*_scored_2*.jsonl")]
        return [json.loads(line) for line in path.read_text().splitlines()]

    merged, one_run = scored(slurm_project), scored(local_project)
    assert len(merged) == 120 and merged == one_run


def test_an_audit_on_slurm_is_a_chain_per_attribute_and_its_card_equals_a_local_run(cluster, tmp_path):
    slurm_project, local_project = tmp_path / "slurm", tmp_path / "local"
    args = "ARGS=--rewrites.n_examples=120 --audit.attributes=[synthetic_sentiment,synthetic_hedging]"
    submitted = make("audit", {**cluster, "PROJECT_DIR": str(slurm_project)}, args)
    assert submitted.returncode == 0, submitted.stderr
    jobs = job_ids(submitted.stdout)
    # per attribute: rewrites, three models, estimates; then the card
    assert len(jobs) == 2 * 5 + 1 and submitted.stdout.strip().splitlines()[-1].startswith("audit card: job")
    assert wait_for(jobs, cluster, timeout=600) == {job: "COMPLETED" for job in jobs}
    local = make("audit", {"PROJECT_DIR": str(local_project), "RUN": "local"}, args)
    assert local.returncode == 0, local.stderr

    def matrix(project: Path) -> list[dict]:
        import csv

        [path] = (project / "audits").glob("offline_audit_*.csv")
        return [{k: v for k, v in row.items() if k != "effects_file"} for row in csv.DictReader(path.open())]

    assert matrix(slurm_project) == matrix(local_project) and len(matrix(local_project)) == 6
