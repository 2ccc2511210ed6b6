"""create_dataset.py with the API backends, run as a user would (a subprocess) against the local fake
server: records and failure accounting, rewrite efficacy, dry run, SIGKILL and resume, batch runs,
and the API key kept out of every file."""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_script
from fake_openai import BatchPlan, FakeOpenAI
from template_contract import build
from test_bad_input import snapshot

SECRET = "sk-test-7f3a9c-SECRET-never-in-a-file"


def sentiment_responder():
    """Rewrites as an LLM asked by the synthetic template's prompt would: flips the sentiment it is
    asked for (the template's own simulated rewrite, seeded by the text)."""
    template = build("dataset_templates", "synthetic_sentiment")

    def respond(prompt: str) -> str:
        text, ask = prompt.split("\n\nPlease adjust this movie review so it has ", 1)
        return template.simulate_rewrite(text, ask.startswith("positive"), random.Random(text))

    return respond


@pytest.fixture
def server(project_dir):
    fake = FakeOpenAI(sentiment_responder()).start()
    yield fake
    fake.stop()


def args(server, *extra: str) -> list[str]:
    # The fake server is not OpenAI, so the model is priced only by the setting (at gpt-4o's price).
    return ["--config", str(REPO / "config.yaml"), "--rewrites.backend=openai", "--rewrites.model=gpt-4o-2024-08-06",
            f"--rewrites.base_url={server.url}", "--rewrites.n_examples=30", "--rewrites.retry_backoff=0.01",
            "--rewrites.retry_backoff_max=0.05", "--rewrites.poll_interval=0.02",
            "--rewrites.price_per_million_tokens=[2.5, 10.0]", *extra]


ENV = {"OPENAI_API_KEY": SECRET, "OPENAI_BASE_URL": ""}


def output_of(done: subprocess.CompletedProcess) -> tuple[list[dict], dict]:
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    records = [json.loads(line) for line in path.read_text().splitlines()]
    meta = json.loads(path.with_name(path.stem + ".meta.json").read_text())
    return records, meta


def assert_secret_in_no_file(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the API key was written to {path}"


@pytest.mark.slow
def test_an_openai_run_records_rewrites_failures_efficacy_and_usage(server, project_dir):
    server.add_fault("refusal", times=1, match="The")  # the first prompt holding "The" is refused
    server.add_fault("500", times=2)
    server.add_fault("429", times=1, retry_after=0.01)
    done = run_script("create_dataset.py", *args(server), env=ENV)
    records, meta = output_of(done)
    counts = meta["counts"]
    assert len(records) == 30
    failed = [r for r in records if r.get("failures")]
    assert len(failed) == 1
    assert failed[0]["failures"]["rewrite"] == "refusal: apology"
    assert failed[0]["failures"]["rewritten rewrite"] == "not attempted: the rewrite failed"
    assert failed[0]["completions"]["rewrite"] is None and failed[0]["completions"]["rewritten rewrite"] is None
    for record in records:
        for text in record["completions"].values():
            assert text is None or "sorry" not in text.lower()
    assert counts["failed rewrite"] == 1 and counts["failure reason: refusal: apology"] == 1
    # Efficacy: the fake rewriter really flips sentiment, so the template's rule finds every rewrite flipped.
    first = [counts[f"efficacy first rewrite {d}"] for d in ("W=1→0", "W=0→1")]
    assert sum(int(c.split(" of ")[0]) for c in first) == sum(int(c.split(" of ")[1]) for c in first) == 29
    assert all(counts[f"efficacy {r} rewrite {d} share"] == 1.0 for r in ("first", "second") for d in ("W=1→0", "W=0→1"))
    assert counts["judge agreement with dataset W share"] == 1.0
    assert all(set(r["judge"]) == ({"original"} if r.get("failures") else {"original", "rewrite", "rewritten rewrite"})
               for r in records)
    assert counts["api requests"] == 30 + 29 and counts["api sent"] == 59 + 3
    assert counts["api prompt_tokens"] > 0 and counts["api cost_usd"] > 0
    assert "rewrite efficacy: first rewrite W=1→0" in done.stderr
    assert meta["templates"]["backend"] == "openai"
    assert all(header == f"Bearer {SECRET}" for header in server.auth_headers)
    assert_secret_in_no_file(project_dir)


@pytest.mark.slow
def test_dry_run_prints_requests_tokens_and_cost_and_sends_nothing(server, project_dir):
    done = run_script("create_dataset.py", *args(server, "--rewrites.dry_run=true"), env=ENV)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "requests:                60 (0 answered from the cache, 60 to send)" in out
    assert "nothing was sent" in out and "estimated cost:          $" in out
    assert server.chat_received == [] and not project_dir.exists(), "a dry run wrote something"
    input_tokens = int(out.split("estimated input tokens:")[1].split()[0].replace(",", ""))
    output_tokens = int(out.split("estimated output tokens:")[1].split()[0].replace(",", ""))
    cost = float(out.split("estimated cost:")[1].split()[0].lstrip("$"))
    assert cost == pytest.approx((input_tokens * 2.5 + output_tokens * 10) / 1e6, abs=0.006)

    batch = run_script("create_dataset.py", *args(server, "--rewrites.dry_run=true", "--rewrites.backend=openai_batch"),
                       env=ENV)
    batch_cost = float(batch.stdout.split("estimated cost:")[1].split()[0].lstrip("$"))
    assert "Batch API price, 50% off" in batch.stdout and batch_cost == pytest.approx(cost / 2, abs=0.006)
    assert server.chat_received == [] and server.batch_lines == []

    # After a real run, a dry run counts everything as answered from the cache.
    output_of(run_script("create_dataset.py", *args(server), env=ENV))
    before = snapshot(project_dir)
    again = run_script("create_dataset.py", *args(server, "--rewrites.dry_run=true"), env=ENV)
    assert snapshot(project_dir) == before, "a dry run changed PROJECT_DIR (the cache, a lock)"
    assert "requests:                60 (60 answered from the cache, 0 to send)" in again.stdout
    assert "estimated cost:          $0.00" in again.stdout
    # Without a price, a model on a server that is not OpenAI is "no price", never OpenAI's.
    unpriced = run_script("create_dataset.py", *args(server, "--rewrites.dry_run=true", "--rewrites.n_examples=31",
                                                     "--rewrites.price_per_million_tokens=null"), env=ENV)
    assert "estimated cost:          no price" in unpriced.stdout and "$" not in unpriced.stdout


def cached_rows(project_dir: Path) -> int:
    connection = sqlite3.connect(project_dir / "data/cache/responses.sqlite")
    try:
        return connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    finally:
        connection.close()


@pytest.mark.slow
def test_sigkill_halfway_then_rerun_sends_exactly_the_unfinished_requests(server, project_dir):
    server.hang_after = 12  # answer 12 requests, then hold every other one
    process = subprocess.Popen([sys.executable, str(REPO / "create_dataset.py"), *args(server, "--rewrites.max_concurrency=4")],
                               env={**os.environ, **ENV}, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while server.chat_answered < 12 or len(server.chat_received) < 16:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    time.sleep(0.5)  # let the client commit the answers it has
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = cached_rows(project_dir)
    assert finished == 12
    first_run = [body["messages"][0]["content"] for body in server.chat_received]
    server.hang_after = None
    server.release.set()

    before = len(server.chat_received)
    records, meta = output_of(run_script("create_dataset.py", *args(server), env=ENV))
    second_run = [body["messages"][0]["content"] for body in server.chat_received[before:]]
    # 30 first rewrites and 30 rewrites of rewrites, minus the 12 that had finished.
    assert len(second_run) == 60 - finished
    assert len(set(second_run)) == len(second_run)
    answered_before = set(first_run) - set(second_run)
    assert len(answered_before) == finished, "a finished request was sent again"
    assert meta["counts"]["api cached"] == finished
    assert all(not r.get("failures") for r in records)


@pytest.mark.slow
def test_a_batch_run_survives_an_expired_batch(server, project_dir):
    server.batch_plans = [BatchPlan(end="expired", finish=10, polls=2)]
    records, meta = output_of(run_script("create_dataset.py", *args(server, "--rewrites.backend=openai_batch"), env=ENV))
    assert len(records) == 30 and all(not r.get("failures") for r in records)
    assert [len(lines) for lines in server.batch_lines] == [30, 20, 30]
    assert meta["counts"]["api batches_expired"] == 1
    assert meta["counts"]["efficacy first rewrite W=1→0 share"] == meta["counts"]["efficacy first rewrite W=0→1 share"] == 1.0
    assert server.chat_received == []
    assert_secret_in_no_file(project_dir)


WRITER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from rewriters._cache import ResponseCache
cache = ResponseCache(sys.argv[2])
for i in range(int(sys.argv[4])):
    cache.put(f"{sys.argv[3]}-{i}", "openai", "m", {"text": f"answer {i}", "finish_reason": "stop"})
    cache.put(f"shared-{i}", "openai", "m", {"text": sys.argv[3], "finish_reason": "stop"})
"""


def test_the_cache_is_safe_with_concurrent_writers(tmp_path):
    from rewriters._cache import ResponseCache

    path = tmp_path / "cache" / "responses.sqlite"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(REPO), str(path), name, "300"])
               for name in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    cache = ResponseCache(path)
    assert len(cache) == 3 * 300 + 300
    shared = cache.get_many(f"shared-{i}" for i in range(300))
    assert len(shared) == 300 and {a["text"] for a in shared.values()} <= {"a", "b", "c"}
    assert cache.get_many(["b-299"]) == {"b-299": {"text": "answer 299", "finish_reason": "stop"}}


def length_responder(prompt: str) -> str:
    """Asked for a longer review, pads it to twice its length only when it is short enough to stay
    readable (under 400 characters); else adds one sentence, which may not cross the length threshold.
    Asked for a shorter one, keeps the first third."""
    text, ask = prompt.split("\n\nPlease adjust this movie review so it's ", 1)
    if ask.startswith("longer"):
        return f"{text} {text}" if len(text) < 400 else f"{text} It is worth a look."
    return text[: max(10, len(text) // 3)]


@pytest.mark.slow
def test_a_real_template_through_the_batch_api_reports_its_rewrite_efficacy(project_dir, tmp_path):
    config = tmp_path / "imdb_length.yaml"
    config.write_text(f"rewrites:\n  dataset_name: imdb_length\n  backend: openai_batch\n  template_options:\n"
                      f"    threshold_chars: 300\n    local_path: {REPO}/tests/fixtures/datasets/imdb.jsonl\n")
    fake = FakeOpenAI(length_responder).start()
    try:
        done = run_script("create_dataset.py", *args(fake)[2:], "--config", str(config), env=ENV)
    finally:
        fake.stop()
    records, meta = output_of(done)
    counts = meta["counts"]
    assert len(records) == 24
    long = [r for r in records if r["w_original"]]
    flipped = sum(len(r["completions"]["rewrite"]) <= 300 for r in long)
    assert 0 < flipped < len(long), "the fixture should hold reviews the responder fails to shorten enough"
    assert counts["efficacy first rewrite W=1→0"] == f"{flipped} of {len(long)}"
    assert counts["efficacy first rewrite W=1→0 share"] == round(flipped / len(long), 4)
    assert all(r["judge"]["rewrite"] == {"w": len(r["completions"]["rewrite"]) > 300, "confidence": 1.0, "by": "rule"}
               for r in records)
    assert f"rewrite efficacy: first rewrite W=1→0 (W=1 examples): {flipped} of {len(long)}" in done.stderr
    assert "Rewrite efficacy is below 80%" in done.stderr


@pytest.mark.slow
def test_sigkill_while_waiting_for_a_batch_then_rerun_reattaches_instead_of_paying_again(server, project_dir):
    server.batch_plans = [BatchPlan(polls=10**6)]  # the first batch runs until the test lets it finish
    process = subprocess.Popen([sys.executable, str(REPO / "create_dataset.py"),
                                *args(server, "--rewrites.backend=openai_batch")],
                               env={**os.environ, **ENV}, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not any(batch["polls"] >= 3 for batch in list(server.batches.values())):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (only,) = server.batches.values()
    only["plan"].polls = 0
    records, meta = output_of(run_script("create_dataset.py", *args(server, "--rewrites.backend=openai_batch"), env=ENV))
    assert [len(lines) for lines in server.batch_lines] == [30, 30], "pass 1 was submitted twice"
    assert meta["counts"]["api batches_reattached"] == 1 and all(not r.get("failures") for r in records)


def test_a_bad_engine_setting_is_one_line_naming_the_key_and_the_file(tmp_path, project_dir):
    config = tmp_path / "bad.yaml"
    config.write_text("rewrites:\n  backend: openai\n  max_concurrency: 0\n")
    done = run_script("create_dataset.py", "--config", str(config), env=ENV)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"error: {config}: rewrites.max_concurrency: must be positive, got 0"
    done = run_script("create_dataset.py", "--config", str(config), "--rewrites.max_concurrency=4",
                      "--rewrites.refusal_detectors=[empty, polite]", env=ENV)
    assert done.stderr.strip().splitlines()[-1].startswith(
        "error: command line: rewrites.refusal_detectors: unknown detector 'polite'")


def judging_responder():
    """Rewrites as sentiment_responder does, and answers the LLM judge's questions as a good judge
    would: the letter of the description that fits (the template's rule decides), with its
    log-probabilities 0.9 / 0.1."""
    template = build("dataset_templates", "synthetic_sentiment")
    rewrite = sentiment_responder()

    def option(prompt: str) -> str:
        text = prompt.split('"""\n', 1)[1].split('\n"""', 1)[0]
        first = prompt.split("\nA: ", 1)[1].split("\n", 1)[0]
        return "A" if template.classify_text(text) == (first == template.w_string(True)) else "B"

    def respond(prompt: str) -> str:
        return option(prompt) if "Which of these two descriptions" in prompt else rewrite(prompt)

    def logprobs(prompt: str, text: str) -> list:
        other = "B" if text == "A" else "A"
        return [[text, math.log(0.9)], [other, math.log(0.1)]]

    return respond, logprobs


@pytest.mark.slow
def test_the_llm_judge_asks_through_the_engine_and_records_every_verdict(project_dir):
    respond, logprobs = judging_responder()
    fake = FakeOpenAI(respond, logprober=logprobs).start()
    try:
        extra = ("--judge.method=llm", "--judge.model=judge-model", "--judge.price_per_million_tokens=[1, 2]")
        dry = run_script("create_dataset.py", *args(fake, "--rewrites.dry_run=true", *extra), env=ENV)
        assert "judge: openai, model judge-model" in dry.stdout and "requests:                90 (0 answered" in dry.stdout
        done = run_script("create_dataset.py", *args(fake, *extra), env=ENV)
        records, meta = output_of(done)
        judged = [body for body in fake.chat_received if body["model"] == "judge-model"]
        distinct = {r["completions"][k] for r in records for k in ("original", "rewrite", "rewritten rewrite")}
        # One request per distinct text: a rewritten rewrite identical to its original is judged once.
        assert len(judged) == len(distinct) and all(b["logprobs"] and b["top_logprobs"] == 5 and b["max_tokens"] == 10
                                         and b["temperature"] == 0.0 for b in judged)
        # The originals were judged before any rewrite was asked for: a broken judge costs nothing.
        first_rewrite = next(i for i, b in enumerate(fake.chat_received) if b["model"] != "judge-model")
        assert all(b["model"] == "judge-model" for b in fake.chat_received[:30]) and first_rewrite == 30
        for record in records:
            assert {v["by"] for v in record["judge"].values()} == {"llm logprobs"}
            assert all(v["confidence"] == pytest.approx(0.9) for v in record["judge"].values())
        counts = meta["counts"]
        assert counts["judge agreement with dataset W share"] == 1.0 and counts["judge api requests"] == 90
        assert counts["judge api cost_usd"] == pytest.approx(round((counts["judge api prompt_tokens"] * 1 +
                                                                    counts["judge api completion_tokens"] * 2) / 1e6, 4))
        assert meta["templates"]["judge"]["model"] == "judge-model"
        # A rerun asks the judge nothing again.
        before = len(fake.chat_received)
        output_of(run_script("create_dataset.py", *args(fake, *extra), env=ENV))
        assert len(fake.chat_received) == before
    finally:
        fake.stop()


@pytest.mark.slow
def test_a_judge_that_cannot_be_reached_fails_before_any_rewrite_is_paid_for(server, project_dir):
    done = run_script("create_dataset.py", *args(server, "--judge.method=llm", "--judge.base_url=http://127.0.0.1:9/v1",
                                                 "--rewrites.max_retries=0"), env=ENV)
    assert done.returncode == 2
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("error: command line: the judge answered none of the 30 originals (judge request failed")
    assert "nothing was rewritten" in message
    assert server.chat_received == []
    assert not [p for p in project_dir.rglob("*") if p.is_file()], "a run that paid for nothing left a file"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["openai", "openai_batch"])
def test_a_wrong_key_stops_the_run_with_one_line_and_writes_nothing(server, project_dir, backend):
    server.valid_key = "sk-the-right-one"
    done = run_script("create_dataset.py", *args(server, f"--rewrites.backend={backend}", "--rewrites.max_retries=2"),
                      env=ENV)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "HTTP 401" in line and "OPENAI_API_KEY" in line and "no output was written" in line
    assert server.refused <= 4, "requests went on after the server refused the key"
    assert not (project_dir / "data/rewrites").exists()
    assert_secret_in_no_file(project_dir)


@pytest.mark.slow
def test_credentials_in_base_url_reach_no_file_and_no_log(server, project_dir):
    """`http://user:password@host/v1` is how some proxies take their credentials: the run uses them,
    and the sidecar, the cache and the logs show `***@` instead."""
    url = server.url.replace("http://", "http://alice:hunter2-secret@")
    # --verbose: the resolved config is logged, redacted
    done = run_script("create_dataset.py", *args(server, f"--rewrites.base_url={url}", "--rewrites.n_examples=4"),
                      "--verbose", env=ENV)
    records, meta = output_of(done)
    assert len(records) == 4 and all(not r.get("failures") for r in records)
    assert "hunter2" not in done.stderr and "***@127.0.0.1" in done.stderr
    for path in project_dir.rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes(), f"the password was written to {path}"
    assert meta["config"]["rewrites"]["base_url"].startswith("http://***@127.0.0.1")
