"""A full disk, met at every write of every phase: the run ends with one line and exit code 2, and
leaves none of its files (no output under its final name without its sidecar, no half set of figures).

Two ways to fill the disk: every fsync of a run in turn fails with ENOSPC (always runs), and a real
64 KiB tmpfs as PROJECT_DIR (where this user may mount one, as root in a container)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_script
from test_bad_input import snapshot

pytestmark = pytest.mark.slow

SMOKE = ("--config", str(REPO / "config.yaml"), "--smoke_test=true")
PHASES = ["create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py"]

# Runs a script with its n-th os.fsync failing as on a full disk: what a phase writes is fsynced before
# it is linked into place, so this meets each file of the phase at its last step.
FAILING_FSYNC = f"""
import errno, os, runpy, sys
fail_at, calls, real = int(os.environ["FAIL_FSYNC_AT"]), [0], os.fsync
def fsync(fd):
    calls[0] += 1
    if calls[0] == fail_at:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    real(fd)
os.fsync = fsync
sys.argv = sys.argv[1:]
sys.path.insert(0, {str(REPO)!r})
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def project_before(phase: str, root: Path) -> Path:
    """A PROJECT_DIR holding the outputs of the phases before `phase`."""
    project = root / "project"
    for script in PHASES[:PHASES.index(phase)]:
        done = run_script(script, *SMOKE, env={"PROJECT_DIR": str(project)})
        assert done.returncode == 0, done.stderr[-2000:]
    project.mkdir(exist_ok=True)
    return project


def without_checkpoints(files: dict[str, str]) -> dict[str, str]:
    """The files (not folders, which a run may make) other than scoring's finished chunks, which it
    keeps for a rerun to resume from."""
    return {k: v for k, v in files.items() if not k.startswith("data/cache") and v != "folder"}


@pytest.mark.parametrize("phase", PHASES)
def test_each_write_of_a_phase_failing_for_want_of_space_leaves_nothing(phase, tmp_path):
    project = project_before(phase, tmp_path)
    runner = tmp_path / "failing_fsync.py"
    runner.write_text(FAILING_FSYNC)
    before = without_checkpoints(snapshot(project))
    failed_at = []
    for n in range(1, 40):
        done = subprocess.run([sys.executable, str(runner), str(REPO / phase), *SMOKE], capture_output=True, text=True,
                              cwd=REPO, timeout=300, env={**os.environ, "PROJECT_DIR": str(project),
                                                          "FAIL_FSYNC_AT": str(n)})
        if done.returncode == 0:
            break  # the phase makes fewer than n fsyncs: every one of them has failed once
        assert done.returncode == 2, done.stderr[-3000:]
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("error:") and "no space left on the device" in last, last
        assert without_checkpoints(snapshot(project)) == before, f"fsync {n} failing left files behind"
        failed_at.append(n)
    else:
        pytest.fail(f"{phase} still failed with its 39th fsync failing")
    # Each phase writes at least an output and its sidecar (visualize: figures, sidecars and a report).
    assert len(failed_at) >= {"create_dataset.py": 2, "score_dataset.py": 2, "treatment_effects.py": 4,
                              "visualize.py": 8}[phase], failed_at
    after = snapshot(project)
    assert any(name not in before for name in after), "the run that had room wrote nothing"


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TINY}", "tmpfs", str(mount)], capture_output=True,
                          text=True) if shutil.which("mount") and os.geteuid() == 0 else None
    if made is None or made.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and the right to mount)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


TINY = "200k"  # the smoke run's rewrites, scores and effects fit; its figures and report do not


def test_a_really_full_disk_fails_in_one_line_and_keeps_only_whole_outputs(tiny_disk, tmp_path):
    project = tiny_disk / "project"
    env = {"PROJECT_DIR": str(project), "MPLCONFIGDIR": str(tmp_path)}
    codes = []
    for script in PHASES:
        before = without_checkpoints(snapshot(project))
        done = run_script(script, *SMOKE, env=env)
        codes.append(done.returncode)
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        if done.returncode:
            assert done.returncode == 2
            last = done.stderr.strip().splitlines()[-1]
            assert last.startswith("error:") and "no space left on the device" in last, last
            assert without_checkpoints(snapshot(project)) == before, f"{script} left part of its files"
            break
    assert codes[0] == 0 and codes[-1] == 2, codes
