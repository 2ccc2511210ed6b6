"""The original RATE code's configs and files, as they are (tests/fixtures/original_rate/ holds its two
configs, from toddnief/RATE): they load, their inputs are found where the original looked, W of 0/1
is a boolean everywhere, and visualize.py draws an original effects file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import utils
from conftest import REPO, run_script

ORIGINAL = REPO / "tests/fixtures/original_rate"
ARMORM, NCSOFT = "RLHFlow/ArmoRM-Llama3-8B-v0.1", "NCSOFT/Llama-3-OffsetBias-RM-8B"


def original_records(n: int, reward_key: str, seed: int = 0) -> list[dict]:
    """Scored records as the original wrote them: W as 0/1, no id, the reward under the model's path."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        w = i % 2
        y = w + rng.gauss(0, 0.2)
        records.append({"w_original": w, "reward_question": "Write a movie review: ",
                        "completions": {"original": f"review {i}", "rewrite": f"re {i}", "rewritten rewrite": f"rr {i}"},
                        reward_key: {"original": y, "rewrite": y + (-0.5 if w else 0.5) + rng.gauss(0, 0.05),
                                     "rewritten rewrite": y + rng.gauss(0, 0.05)}})
    return records


def write(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("name", ["config.yaml", "config_vowels.yaml"])
def test_the_original_configs_load_as_they_are(name):
    cfg = utils.load_config(ORIGINAL / name)
    assert cfg["effects"]["concept"] and cfg["effects"]["score"] == "armorm"


@pytest.mark.slow
def test_the_original_config_estimates_and_draws_from_the_original_scored_file(project_dir):
    """config.yaml: `effects.dataset_folder: null` reads the scored folder itself, `smoke_test: true`, the
    reward under the model's path, W of 0/1; visualize then finds the effects by dataset_name + concept."""
    write(project_dir / "data/scored/imdb_length_armorm_smoke_test_scored_20241104_111220.jsonl",
          original_records(40, ARMORM))
    config = ["--config", str(ORIGINAL / "config.yaml")]
    done = run_script("treatment_effects.py", *config)
    assert done.returncode == 0, done.stderr[-2000:]
    effects = json.loads(next(Path(line) for line in done.stdout.splitlines() if line.endswith(".json")).read_text())
    assert effects["Y1_count"] == effects["Y0_count"] == 20 and effects["reward_key"] == ARMORM
    assert effects["dataset_name"] == "imdb_length" and effects["score"] == "armorm"
    shown = run_script("visualize.py", *config)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert Path(shown.stdout.strip().splitlines()[-1]).name.startswith("imdb_length_armorm_report_smoke_test_")


def test_the_original_vowels_config_reads_its_typos_subfolder(project_dir):
    write(project_dir / "data/scored/typos/imdb_vowels_30typos_complete_scored_20241120_162935.jsonl",
          original_records(30, NCSOFT, seed=1))
    done = run_script("treatment_effects.py", "--config", str(ORIGINAL / "config_vowels.yaml"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| imdb_vowels | NCSOFT/Llama-3-OffsetBias-RM-8B | RATE | ATE |" in done.stdout


@pytest.mark.slow
def test_visualize_draws_an_effects_file_of_the_original_code(project_dir):
    """An original effects JSON has the estimates and SEs under its own keys and no table; it is found
    under the original's name (dataset_name + concept + score) and drawn."""
    effects = {"naive_effect": 0.9, "naive_effect_stderr": 0.05, "reward_std": 0.5, "Y1_count": 50, "Y0_count": 50,
               **{f"{e}_{s}": v for e, v in (("ATE", 0.4), ("ATT", 0.5), ("ATU", 0.3))
                  for s in ("single_rewrite", "rewritten_rewrite")},
               **{f"{e}_{s}_stderr": 0.04 for e in ("ATE", "ATT", "ATU") for s in ("single_rewrite", "rewritten_rewrite")},
               "dataset_name": "imdb_length", "concept": "length", "score": "armorm"}
    path = project_dir / "effects/imdb_length_length_armorm_treatment_effects_20241120_172602.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(effects))
    done = run_script("visualize.py", "--config", str(ORIGINAL / "config.yaml"), "--smoke_test=false")
    assert done.returncode == 0, done.stderr[-2000:]
    page = Path(done.stdout.strip().splitlines()[-1]).read_text()
    assert "rebuilt from an original RATE effects file" in page and "+0.4000" in page
    # ATE: 0.4 -/+ t(0.975, 99) * 0.04
    assert "[+0.3206, +0.4794]" in page


def test_score_dataset_reads_w_of_0_and_1(project_dir):
    records = [{k: v for k, v in r.items() if k != ARMORM} for r in original_records(8, ARMORM)]
    path = write(project_dir / "data/rewrites/old_rewrites.jsonl", records)
    done = run_script("score_dataset.py", "--config", str(REPO / "config.yaml"), f"--scoring.dataset_filename={path}")
    assert done.returncode == 0, done.stderr[-2000:]
