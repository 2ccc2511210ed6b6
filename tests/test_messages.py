"""What a user reads (issue #16): quiet logs that end with what was read, written and failed; progress
bars that say which round they count; and errors that say what to do next, fast."""

from __future__ import annotations

import pytest

from conftest import REPO, run_process, run_script

CONFIG = str(REPO / "config.yaml")


@pytest.mark.slow
def test_a_phase_logs_no_config_by_default_and_ends_with_three_lines(project_dir):
    done = run_script("create_dataset.py", "--config", CONFIG, "--rewrites.n_examples=100")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resolved to:" not in done.stderr
    logged = [line for line in done.stderr.splitlines() if " INFO " in line or " WARNING " in line]
    assert [line.split("phases.create_dataset: ")[1].split()[0] for line in logged[-3:]] == ["read:", "wrote:", "failed:"]
    assert logged[-3].endswith("5000 rows of synthetic_sentiment, 100 sampled")
    assert logged[-1].endswith("failed: none")
    # the two rounds are told apart
    assert "round 1 of 2, rewrites" in done.stderr and "round 2 of 2, rewritten rewrites" in done.stderr
    verbose = run_script("score_dataset.py", "--config", CONFIG, "--rewrites.n_examples=100", "--verbose")
    assert verbose.returncode == 0 and verbose.stderr.count("resolved to:") == 1
    assert [line.split("phases.score_dataset: ")[1].split()[0] for line in verbose.stderr.splitlines()
            if "phases.score_dataset: " in line][-3:] == ["read:", "wrote:", "failed:"]


def test_failed_rewrites_are_counted_with_their_reasons_in_the_last_line(project_dir):
    done = run_script("create_dataset.py", "--config", CONFIG, "--rewrites.n_examples=200",
                      "--rewrites.backend_options.failure_rate=0.2")
    assert done.returncode == 0, done.stderr[-2000:]
    last = [line for line in done.stderr.splitlines() if "phases.create_dataset: failed:" in line][0]
    assert "rewrites" in last and "simulated failure" in last and "failed: none" not in last


def test_an_override_with_a_space_suggests_the_equals_sign(project_dir):
    done = run_script("create_dataset.py", "--config", CONFIG, "--rewrites.n_examples", "5")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("error: command line: '--rewrites.n_examples 5': an override is "
                                                    "one word, --key=value: write --rewrites.n_examples=5")


def test_no_input_for_latest_names_the_phase_to_run(project_dir):
    done = run_script("treatment_effects.py", "--config", CONFIG)
    assert done.returncode == 2
    assert done.stderr.strip().endswith("for 'latest': run score_dataset.py first, with the same config")


def unreachable_hub() -> dict:
    # a closed port on this machine: the connection is refused at once, as on a machine without network.
    # huggingface_hub reads these when imported, so the runs that set them are subprocesses.
    return {"HF_HUB_OFFLINE": "", "HF_DATASETS_OFFLINE": "", "HF_ENDPOINT": "http://127.0.0.1:9"}


@pytest.mark.slow
def test_an_unreachable_hub_is_one_line_with_the_key_to_set_in_seconds(project_dir):
    assert run_script("create_dataset.py", "--config", CONFIG, "--rewrites.n_examples=20").returncode == 0
    done = run_process("score_dataset.py", "--config", CONFIG, "--scoring.model=armorm", env=unreachable_hub())
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "the Hugging Face hub is unreachable (127.0.0.1 cannot be reached" in line
    assert "Set scoring.model_options.path to a local copy" in line
    assert "retry" not in done.stderr.lower()  # the check answers before the hub client's own retries
    offline = run_process("score_dataset.py", "--config", CONFIG, "--scoring.model=armorm",
                         env={"HF_HUB_OFFLINE": "1"})
    assert "(HF_HUB_OFFLINE is set) and the model is not in the local cache" in offline.stderr


@pytest.mark.slow
def test_an_unreachable_hub_for_a_dataset_names_local_path(project_dir):
    done = run_process("create_dataset.py", "--config", str(REPO / "configs" / "imdb_sentiment_distilbert.yaml"),
                       "--rewrites.dry_run=true", env=unreachable_hub())
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: rewrites.template_options.hf_dataset: cannot load 'imdb': the Hugging Face hub is "
                           "unreachable") and "Set rewrites.template_options.local_path to a local copy" in line
