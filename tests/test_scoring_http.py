"""scoring_templates/http.py against tests/fake_reward_server.py: each contract, requests of
texts_per_request with at most `concurrency` in flight (counted at the server), retries, the one-line
errors score_dataset.py gives, the chat format, and a run killed mid-way that resumes without
scoring a checkpointed text twice."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import utils
from conftest import REPO, run_script
from fake_reward_server import FakeRewardServer, pair_text, reward
from scoring import budget, engine
from scoring_templates import http

QUESTIONS = ["Write a movie review: ", "Why is the sky blue?", "Name a colour.", "Say hi."]
TEXTS = ["The acting was wonderful.", "Because of Rayleigh scattering.", "Blue.", "Hi there!"]


@pytest.fixture
def fake():
    server = FakeRewardServer().start()
    yield server
    server.stop()


def model_for(options: dict):
    return http.build(utils.merge_options(options, http.OPTIONS, "scoring.model_options", {}, http.CHECKS))


def sigmoid(r):
    return 1 / (1 + math.exp(-r))


CONTRACTS = [
    ("pooling", "plain", "list", lambda q, c: reward(c)),
    ("pooling", "plain", "scalar", lambda q, c: reward(c)),
    ("pooling", "plain", "tokens", lambda q, c: reward(c)),
    ("pooling", "server", "list", lambda q, c: reward(pair_text(q, c))),
    ("classify", "plain", "list", lambda q, c: sigmoid(reward(c))),
    ("tei", "plain", "list", lambda q, c: reward(c)),
    ("tei", "pair", "list", lambda q, c: reward(pair_text(q, c))),
    ("texts", "plain", "list", lambda q, c: reward(c)),
    ("texts", "pair", "list", lambda q, c: reward(pair_text(q, c))),
]


@pytest.mark.parametrize("api, form, shape, expected", CONTRACTS, ids=[f"{a}-{f}-{s}" for a, f, s, _ in CONTRACTS])
def test_each_contract_gives_the_servers_rewards_in_the_input_order(fake, api, form, shape, expected):
    fake.pooling_shape = shape
    model = model_for(fake.options(api, input_format=form, texts_per_request=3, concurrency=2))
    try:
        assert model.score_batch(QUESTIONS, TEXTS) == pytest.approx([expected(q, c) for q, c in zip(QUESTIONS, TEXTS)])
    finally:
        model.close()
    if form == "server":
        assert fake.requests == [1] * 4 and all("messages" in b and "input" not in b for b in fake.bodies)
        sent = sorted((b["messages"][0]["content"], b["messages"][1]["content"]) for b in fake.bodies)
        assert sent == sorted(zip(QUESTIONS, TEXTS)), "[user: question, assistant: completion], in flight in any order"
    else:
        assert sorted(fake.requests) == [1, 3]
    if api != "tei":
        assert all(b["model"] == "fake-rm" for b in fake.bodies)


def test_classify_logit_gives_back_the_logit_of_a_one_label_model(fake):
    model = model_for(fake.options("classify", classify_reward="logit"))
    assert model.score_batch(QUESTIONS, TEXTS) == pytest.approx([reward(t) for t in TEXTS], abs=1e-9)


def test_tei_reads_the_configured_label_and_sends_raw_scores(fake):
    model = model_for(fake.options("tei", label="LABEL_1"))
    assert model.score_batch(QUESTIONS, TEXTS) == pytest.approx([-reward(t) for t in TEXTS])
    assert fake.bodies[0]["raw_scores"] is True


def test_requests_hold_texts_per_request_and_at_most_concurrency_are_in_flight(fake):
    fake.latency, fake.hold_until = 0.01, 3  # a request waits until three are in flight
    model = model_for(fake.options(texts_per_request=5, concurrency=3))
    texts = [f"text number {i}" for i in range(30)]
    assert model.score_batch(["q"] * 30, texts) == pytest.approx([reward(t) for t in texts])
    assert fake.requests == [5] * 6 and fake.max_in_flight == 3
    assert sorted(fake.scored) == sorted(texts)


def test_the_engine_gives_one_call_enough_texts_for_every_slot(fake):
    model = model_for(fake.options(texts_per_request=4, concurrency=3))
    tokens, texts = budget.engine_settings(model, None, 64, texts_set=False)
    assert texts == model.texts_per_call == 4 * 3 * http.WAVES
    assert budget.engine_settings(model, None, 8, texts_set=True)[1] == 8, "a set scoring.batch_size wins"
    calls = []
    original = model.score_batch
    model = type(model)(**{**model.__dict__, "score_batch": lambda q, c: calls.append(len(c)) or original(q, c)})
    many = [f"t{i}" for i in range(100)]
    rewards, stats = engine.score_texts(model, ["q"] * 100, many, max_tokens=tokens, max_texts=texts, chunk_texts=1000)
    assert calls == [48, 48, 4] and rewards == pytest.approx([reward(t) for t in many])


@pytest.mark.parametrize("fault", ["429", "500", "reset", "timeout"])
def test_a_passing_failure_is_retried_then_the_texts_are_scored(fake, fault):
    fake.add_fault(fault, times=2, retry_after=0.01, delay=2.0)
    model = model_for(fake.options(texts_per_request=4, concurrency=1, timeout=0.5, max_retries=2))
    try:
        assert model.score_batch(QUESTIONS, TEXTS) == pytest.approx([reward(t) for t in TEXTS])
    finally:
        model.close()
    assert len(fake.requests) == 3 and fake.scored == TEXTS


def test_retry_after_is_honoured_and_read_as_seconds_or_a_date():
    from email.utils import formatdate

    assert http.retry_after("2.5") == 2.5 and http.retry_after(None) is None and http.retry_after("soon") is None
    assert 8 <= http.retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10


def test_retries_wait_what_retry_after_says(fake, monkeypatch):
    waits = []
    monkeypatch.setattr(http, "pause", lambda stop, seconds: waits.append(seconds))
    fake.add_fault("429", times=1, retry_after=7)
    fake.add_fault("500", times=1)
    model = model_for(fake.options(backoff=0.5, max_retries=3))
    model.score_batch(QUESTIONS, TEXTS)
    assert waits == [7.0, 1.0], "Retry-After first, then backoff * 2**attempt"


# -- through score_dataset.py ------------------------------------------------------------------------
def write_rewrites(n: int = 10) -> list[dict]:
    records = [{"id": f"r-{i}", "w_original": i % 2 == 0, "reward_question": f"Question {i}?",
                "completions": {"original": f"original answer {i}", "rewrite": f"rewritten answer {i}",
                                "rewritten rewrite": f"rewritten rewrite {i}" if i != 3 else None}}
               for i in range(n)]
    records[3]["failures"] = {"rewritten rewrite": "refused"}
    folder = utils.folder("rewrites")
    folder.mkdir(parents=True, exist_ok=True)
    utils.write_jsonl(folder / "toy_dataset_20240101_000000.jsonl", records)
    return records


def config_for(project_dir, options: dict, **scoring) -> str:
    path = project_dir.parent / "toy.yaml"
    section = {"model": "http", "model_options": options, **scoring}
    path.write_text(json.dumps({"rewrites": {"dataset_name": "toy"}, "scoring": section}))
    return str(path)


def items_of(records):
    return [(r, k) for r in records for k, t in r["completions"].items() if isinstance(t, str)]


def test_score_dataset_scores_with_the_served_model(project_dir, fake):
    records = write_rewrites()
    done = run_script("score_dataset.py", "--config", config_for(project_dir, fake.options(texts_per_request=4)))
    assert done.returncode == 0, done.stderr[-3000:]
    scored = utils.read_records(done.stdout.strip().splitlines()[-1])
    for record, original in zip(scored, records):
        assert record["http:fake-rm"] == pytest.approx(
            {k: reward(t) for k, t in original["completions"].items() if isinstance(t, str)})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ERRORS = [
    ("401", {}, "HTTP 401", "api_key_env"),
    ("403", {}, "HTTP 403", "api_key_env"),
    ("404", {"base_url": "/wrong"}, "HTTP 404", "base_url"),
    ("refused", {}, "cannot connect", "is the server running"),
    ("wrong_count", {}, "answered 3 rewards for 4 texts", "scoring.model_options.api"),
    ("bad_shape", {}, "not a 'pooling' response", "scoring.model_options.api"),
    ("nan", {}, "non-finite reward", "served model"),
    ("500", {}, "HTTP 500", "after 3 attempts"),
    ("timeout", {"timeout": 0.2}, "no answer within 0.2 s", "scoring.model_options.timeout"),
    ("no_token", {"api_key_env": "RATE_TEST_NO_SUCH_TOKEN"}, "RATE_TEST_NO_SUCH_TOKEN is not set", "api_key_env"),
    ("refused_format", {"api": "tei", "input_format": "server"}, "cannot take input_format server", "input_format"),
    ("no_tokenizer", {"input_format": "chat"}, "set tokenizer", "scoring.model_options.tokenizer"),
]


@pytest.mark.parametrize("fault, options, says, names", ERRORS, ids=[e[0] for e in ERRORS])
def test_each_failure_is_one_error_line_and_exit_code_2(project_dir, fake, fault, options, says, names):
    write_rewrites()
    fake.add_fault(fault, times=100, delay=2.0)
    given = fake.options(texts_per_request=4, concurrency=2, **options)
    if fault == "refused":
        given["base_url"] = f"http://127.0.0.1:{closed_port()}"
    if fault == "404":
        given["base_url"] = fake.url + "/wrong"
    done = run_script("score_dataset.py", "--config", config_for(project_dir, given))
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-3000:]
    assert lines[-1].startswith("error: ") and [line for line in lines if line.startswith("error")] == [lines[-1]]
    assert says in lines[-1] and names in lines[-1], lines[-1]
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_chat_renders_the_tokenizers_template_locally(fake, tmp_path):
    import scoring_tiny_models as tiny

    tiny._bpe_tokenizer(300).save_pretrained(tmp_path / "tok")
    model = model_for(fake.options(input_format="chat", tokenizer=str(tmp_path / "tok")))
    rendered = [f"<s><|user|>{q}<|end|><|assistant|>{c}<|end|>" for q, c in zip(QUESTIONS, TEXTS)]
    assert model.score_batch(QUESTIONS, TEXTS) == pytest.approx([reward(t) for t in rendered])
    assert fake.bodies[0]["input"][0] == rendered[0]


@pytest.mark.slow
def test_a_killed_run_resumes_without_scoring_a_checkpointed_text_twice(project_dir, fake):
    records = write_rewrites(20)
    items = items_of(records)
    config = config_for(project_dir, fake.options(texts_per_request=2, concurrency=2), checkpoint_texts=4)
    clean = run_script("score_dataset.py", "--config", config)
    assert clean.returncode == 0, clean.stderr[-3000:]
    expected = [r["http:fake-rm"] for r in utils.read_records(clean.stdout.strip().splitlines()[-1])]
    assert len(fake.scored) == len(items) == 59

    fake.latency = 0.1  # a chunk of 4 texts: two requests side by side, about 0.1 s
    with fake.lock:
        fake.scored.clear()
    process = subprocess.Popen([sys.executable, str(REPO / "score_dataset.py"), "--config", config], cwd=REPO,
                               env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = utils.folder("cache") / "scoring"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        checkpoints = list(folder.glob("*.jsonl")) if folder.is_dir() else []
        if checkpoints and len(checkpoints[0].read_text().splitlines()) >= 12:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "killed before it could finish"
    (checkpoint,) = folder.glob("*.jsonl")
    done = engine.Checkpoint(checkpoint).load()
    assert 12 <= len(done) < len(items)
    with fake.changed:  # the dead client's last requests still finish at the server: let them
        assert fake.changed.wait_for(lambda: fake.in_flight == 0, timeout=30)
        first_run, fake.scored = list(fake.scored), []

    fake.latency = 0.0
    resumed = run_script("score_dataset.py", "--config", config)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    text_of = [record["completions"][key] for record, key in items]
    checkpointed = {text_of[i] for i in done}
    assert checkpointed <= set(first_run)
    assert not checkpointed & set(fake.scored), "a checkpointed text was scored again"
    assert sorted(fake.scored) == sorted(t for i, t in enumerate(text_of) if i not in done)
    output = resumed.stdout.strip().splitlines()[-1]
    assert [r["http:fake-rm"] for r in utils.read_records(output)] == expected
    assert utils.read_meta(output)["counts"]["models"]["http"]["resumed_from_checkpoint"] == len(done)
