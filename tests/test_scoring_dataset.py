"""score_dataset.py end to end on a small rewrites file: several models in one run, a model added to
a scored file, resuming after a crash, shards merged equal to a single run, and the errors."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

import scoring_tiny_models as tiny
import utils
from conftest import REPO, run_script
from scoring_templates import hf, vader


def write_rewrites(project, n=13):
    rng = random.Random(0)
    vocab = tiny.words()
    records = []
    for i in range(n):
        texts = {k: tiny.random_text(rng, rng.randint(3, 40), vocab) for k in ("original", "rewrite", "rewritten rewrite")}
        record = {"id": f"r-{i}", "w_original": i % 2 == 0, "reward_question": "Write a movie review: ",
                  "completions": texts}
        if i == 4:
            record["completions"]["rewrite"] = record["completions"]["rewritten rewrite"] = None
            record["failures"] = {"rewrite": "refused"}
        records.append(record)
    records[7]["completions"]["original"] = " ".join(vocab[:60] * 3)  # longer than the tiny model's limit
    folder = utils.folder("rewrites")
    folder.mkdir(parents=True, exist_ok=True)
    utils.write_jsonl(folder / "toy_dataset_20240101_000000.jsonl", records)
    return records


@pytest.fixture
def setup(project_dir, tmp_path_factory):
    records = write_rewrites(project_dir)
    config = project_dir.parent / "toy.yaml"
    config.write_text("rewrites:\n  dataset_name: toy\nscoring:\n  model: vader\n  checkpoint_texts: 8\n"
                      "  batch_size: 4\n  device: cpu\n")
    return records, config


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return tiny.llama_rm(tmp_path_factory.mktemp("score_llama") / "rm")


def run(config, *args):
    """score_dataset.py as a user runs it; stops the test unless it succeeded."""
    done = run_script("score_dataset.py", "--config", str(config), *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def refused(config, *args) -> str:
    """The one line a refused run gives (exit code 2)."""
    done = run_script("score_dataset.py", "--config", str(config), *args)
    assert done.returncode == 2, done.stderr[-3000:]
    return done.stderr.strip().splitlines()[-1]


# score_dataset.py in a subprocess whose reward model fails at its `fail_on`-th batch (never: -1),
# as a power cut would; it prints how many texts it scored. The fault is injected into the
# scoring template, the script runs as it is.
CRASHING = r"""
import atexit, dataclasses, runpy, sys
sys.path.insert(0, sys.argv[1])
from scoring_templates import hf
fail_on, calls, build = int(sys.argv[2]), [], hf.build

def crashing_build(options):
    model = build(options)

    def score_encoded(batch):
        calls.append(len(batch))
        if len(calls) == fail_on:
            raise RuntimeError("power cut")
        return model.score_encoded(batch)

    return dataclasses.replace(model, score_encoded=score_encoded)

hf.build = crashing_build
atexit.register(lambda: print(f"texts scored: {sum(calls)}", file=sys.stderr))
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_crashing(config, fail_on: int, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CRASHING, str(REPO), str(fail_on), str(REPO / "score_dataset.py"),
                           "--config", str(config), *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ), timeout=300)


def newest(pattern):
    return max(utils.folder("scored").glob(pattern), key=lambda p: p.name)


@pytest.mark.slow
def test_several_models_in_one_run_each_add_their_dict(setup, llama):
    records, config = setup
    done = run(config, f"--scoring.models=[vader, 'hf:{llama}']")
    output = newest("toy_vader_scored_*.jsonl")
    scored = utils.read_records(output)
    assert [r["id"] for r in scored] == [r["id"] for r in records]
    direct_vader = vader.build(dict(vader.OPTIONS))
    direct_hf = hf.build({**hf.OPTIONS, "path": str(llama), "device": "cpu"})
    for record in scored:
        keys = [k for k, t in record["completions"].items() if t is not None]
        assert set(record["vader"]) == set(record[str(llama)]) == set(keys)
        texts = [record["completions"][k] for k in keys]
        assert [record["vader"][k] for k in keys] == direct_vader.score_batch([""] * len(texts), texts)
        alone = [direct_hf.score_batch([record["reward_question"]], [t])[0] for t in texts]
        assert [record[str(llama)][k] for k in keys] == pytest.approx(alone, abs=1e-4)
    meta = utils.read_meta(output)
    summary = meta["counts"]["models"][f"hf:{llama}"]
    assert meta["templates"]["models"] == ["vader", f"hf:{llama}"]
    assert summary["texts"] == 37 and summary["truncated"] == 1 and summary["tokens"] > 0
    assert 0 <= summary["padding_fraction"] < 1 and summary["dtype"] == "float32"
    assert "tok/s" in done.stderr and "truncated" in done.stderr
    assert not list(utils.folder("cache").rglob("*.jsonl")), "checkpoints are removed once the output exists"


@pytest.mark.slow
def test_a_model_added_to_a_scored_file_leaves_the_others_alone(setup, llama):
    records, config = setup
    run(config)
    first = newest("toy_vader_scored_*.jsonl")
    run(config, "--scoring.dataset_folder=scored", f"--scoring.model=hf:{llama}")
    added = newest(f"toy_{utils.slug(f'hf:{llama}')}_scored_*.jsonl")
    assert utils.read_meta(added)["inputs"][0]["path"] == str(first)
    before, after = utils.read_records(first), utils.read_records(added)
    assert [r["vader"] for r in after] == [r["vader"] for r in before]
    assert all(str(llama) in r for r in after)
    # scoring the same models again has nothing to do
    assert "rescore" in refused(config, "--scoring.dataset_folder=scored", f"--scoring.dataset_filename={added}",
                                f"--scoring.models=[vader, 'hf:{llama}']")


@pytest.mark.slow
def test_a_rerun_after_a_crash_resumes_from_the_checkpoint(setup, llama):
    records, config = setup
    run(config, f"--scoring.model=hf:{llama}")
    clean = utils.read_records(newest("toy_hf-*_scored_*.jsonl"))
    crashed = run_crashing(config, 5, f"--scoring.model=hf:{llama}")
    assert crashed.returncode != 0 and "RuntimeError: power cut" in crashed.stderr
    checkpoints = list(utils.folder("cache").rglob("*.jsonl"))
    # batches of 4 texts (scoring.batch_size), chunks of 8: the fifth batch fails after two chunks
    assert len(checkpoints) == 1 and len(checkpoints[0].read_text().splitlines()) == 16
    resumed_run = run_crashing(config, -1, f"--scoring.model=hf:{llama}")
    assert resumed_run.returncode == 0, resumed_run.stderr[-2000:]
    assert "texts scored: 21" in resumed_run.stderr, "only the 37 - 16 texts not in the checkpoint are scored again"
    output = newest("toy_hf-*_scored_*.jsonl")
    resumed = utils.read_records(output)
    assert utils.read_meta(output)["counts"]["models"][f"hf:{llama}"]["resumed_from_checkpoint"] == 16
    for a, b in zip(resumed, clean):
        assert a[str(llama)] == pytest.approx(b[str(llama)], abs=1e-4)
    assert not checkpoints[0].exists()


@pytest.mark.slow
def test_shards_merged_equal_a_single_run(setup, llama):
    records, config = setup
    models = f"--scoring.models=[vader, 'hf:{llama}']"
    run(config, models)
    single = utils.read_records(newest("toy_vader_scored_*.jsonl"))
    for i in range(3):
        run(config, models, f"--shard={i}/3")
    shards = sorted(utils.folder("scored").glob("toy_vader_scored_shard-*-of-3_*.jsonl"))
    assert len(shards) == 3 and sorted(len(utils.read_records(p)) for p in shards) == [4, 4, 5]
    # `latest` never takes a shard for a finished scored file: the single run is still the newest.
    assert utils.artifacts.latest("scored", "toy", smoke=False) == newest("toy_vader_scored_2*.jsonl")
    run(config, models, "--merge")
    merged_path = newest("toy_vader_scored_2*.jsonl")
    merged = utils.read_records(merged_path)
    assert [r["id"] for r in merged] == [r["id"] for r in single]
    for a, b in zip(merged, single):
        assert a["vader"] == b["vader"] and a["completions"] == b["completions"]
        assert a[str(llama)] == pytest.approx(b[str(llama)], abs=1e-4)
    meta = utils.read_meta(merged_path)
    assert meta["templates"]["merged_shards"] == 3 and meta["counts"]["examples"] == 13
    assert utils.artifacts.latest("scored", "toy", smoke=False, model=f"hf:{llama}") == merged_path
    assert utils.artifacts.identity(merged_path).models == ("vader", f"hf:{llama}")


@pytest.mark.slow
def test_merge_refuses_a_missing_or_doubled_shard_and_foreign_ids(setup):
    records, config = setup
    run(config, "--shard=0/2")
    assert "1/2 missing" in refused(config, "--merge")
    run(config, "--shard=1/2")
    run(config, "--shard=1/2")
    assert "shard 1/2 has 2 files" in refused(config, "--merge")
    shards = sorted(utils.folder("scored").glob("toy_vader_scored_shard-*.jsonl"))
    zero, one_a = shards[0], shards[1]
    # a shard whose records were edited after scoring: an id twice and one missing
    tampered = utils.read_records(one_a)
    tampered[0]["id"] = "r-0"
    one_a.unlink()
    utils.write_jsonl(one_a, tampered)
    assert "more than once" in refused(config, f"--merge={zero},{one_a}")
    run(config, f"--merge={zero.name},{shards[2].name}")


@pytest.mark.parametrize("args, message", [
    (["--shard=3/2"], "scoring.shard"),
    (["--scoring.models=[vader, vader]"], "twice"),
    (["--scoring.models=[vader, 'hf:x']", "--scoring.model_options.length_weight=0.5"], "key the options by model"),
    (["--scoring.models=[vader]", "--scoring.model_options.vader.nope=1"], "scoring.model_options.vader.nope"),
    (["--scoring.batch_size=0"], "scoring.batch_size"),
])
def test_config_errors_name_the_key(setup, args, message):
    _, config = setup
    assert message in refused(config, *args)


def test_per_model_options_are_keyed_by_model(setup):
    _, config = setup
    run(config, "--scoring.models=[vader]", "--scoring.model_options.vader={length_weight: 0, typo_penalty: 0}")
    scored = utils.read_records(newest("toy_vader_scored_*.jsonl"))
    plain = vader.build({**vader.OPTIONS, "length_weight": 0, "typo_penalty": 0})
    text = scored[0]["completions"]["original"]
    assert scored[0]["vader"]["original"] == plain.score_batch([""], [text])[0]
    assert json.loads(json.dumps(scored[0]))  # plain JSON, no NaN


def test_the_script_reports_a_bad_shard_in_one_line(setup):
    _, config = setup
    done = run_script("score_dataset.py", "--config", str(config), "--shard=5/2")
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: command line: scoring.shard")
    assert "Traceback" not in done.stderr
