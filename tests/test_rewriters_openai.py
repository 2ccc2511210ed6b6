"""The `openai` backend against the local fake server: retries, Retry-After, timeouts, malformed
bodies, failure detection, the cache, rate limits, and the engine's accounting."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from fake_openai import FakeOpenAI
from rewriters import RewriteRequest
from template_contract import build

FAST = {"retry_backoff": 0.01, "retry_backoff_max": 0.05, "timeout": 1.0, "poll_interval": 0.01}


def requests_(n: int, tag: str = "p") -> list[RewriteRequest]:
    return [RewriteRequest(f"ex{i}:rewrite", f"{tag} {i}: please rewrite this", f"original {i}", bool(i % 2))
            for i in range(n)]


def backend(server, **settings):
    return build("rewriters", "openai", None, "gpt-4o-2024-08-06", 0.7, 0, {"base_url": server.url, **FAST, **settings})


@pytest.mark.slow
def test_transient_errors_are_retried_and_every_request_ends_answered(server):
    server.add_fault("429", times=3, retry_after=0.05)
    server.add_fault("500", times=2)
    server.add_fault("malformed")
    server.add_fault("no_choices")
    server.add_fault("timeout", delay=1.3)
    rewriter = backend(server, max_concurrency=4)
    results = rewriter.rewrite(requests_(20))
    assert all(r.ok and r.failure is None for r in results.values())
    assert len(server.chat_received) == 20 + 8  # each fault cost exactly one extra attempt
    assert rewriter.stats["retries"] == 8
    # The text is the server's completion for that very prompt, whatever order answers came in.
    for request in requests_(20):
        assert results[request.custom_id].text == server.responder(request.prompt)


@pytest.mark.slow
def test_retry_after_is_honoured_before_the_next_attempt_and_pauses_the_others(server):
    server.add_fault("429", times=1, retry_after=0.6, match="p 0:")
    results = backend(server, retry_backoff=0.0, retry_backoff_max=0.0, max_concurrency=1).rewrite(requests_(2))
    assert all(r.ok for r in results.values())
    prompts = [body["messages"][0]["content"][:4] for body in server.chat_received]
    assert prompts == ["p 0:", "p 0:", "p 1:"]
    assert server.chat_times[1] - server.chat_times[0] >= 0.6  # no backoff configured: only Retry-After

    server.add_fault("429", times=1, retry_after=0.6, match="p 5:")
    # p 6 answers slowly, so the other worker asks for p 7 only after the 429 has been seen
    server.add_fault("timeout", times=1, delay=0.3, match="p 6:")
    backend(server, retry_backoff=0.0, retry_backoff_max=0.0, max_concurrency=2).rewrite(requests_(8)[5:])
    times = server.chat_times[3:]
    # The other worker's next request also waited for the pause the 429 announced.
    assert len(times) == 4 and times[2] - times[0] >= 0.55 and times[3] - times[0] >= 0.55


def test_errors_after_retries_and_client_errors_are_failures_never_text(server):
    server.add_fault("500", times=100, match="p 3:")
    server.add_fault("400", times=1, match="p 5:")
    rewriter = backend(server, max_retries=2)
    results = rewriter.rewrite(requests_(8))
    assert results["ex3:rewrite"].text is None
    assert results["ex3:rewrite"].failure.startswith("gave up after 3 attempts: HTTP 500")
    assert results["ex5:rewrite"].text is None and results["ex5:rewrite"].failure.startswith("HTTP 400")
    assert sum(body["messages"][0]["content"].startswith("p 3:") for body in server.chat_received) == 3
    assert sum(body["messages"][0]["content"].startswith("p 5:") for body in server.chat_received) == 1  # no retry
    assert sum(r.ok for r in results.values()) == 6


@pytest.mark.parametrize("kind, reason", [
    ("refusal", "refusal: apology"), ("refusal_field", "refusal: the model declined (refusal field)"),
    ("empty", "refusal: empty completion"), ("echo", "refusal: prompt echoed back"),
    ("length", "truncated (finish_reason=length)"), ("content_filter", "content filter (finish_reason=content_filter)"),
])
@pytest.mark.slow
def test_unusable_answers_are_recorded_with_their_reason(server, kind, reason):
    server.add_fault(kind, match="p 1:")
    results = backend(server).rewrite(requests_(3))
    assert results["ex1:rewrite"].text is None and results["ex1:rewrite"].failure == reason
    assert results["ex0:rewrite"].ok and results["ex2:rewrite"].ok


def test_detectors_are_configurable_and_run_on_cached_answers(server):
    server.add_fault("echo", match="p 1:")
    first = backend(server).rewrite(requests_(3))
    assert first["ex1:rewrite"].failure == "refusal: prompt echoed back"
    sent = len(server.chat_received)
    # Switching the echo detector off (and adding a pattern) changes verdicts without a new request.
    again = backend(server, refusal_detectors=["empty"], refusal_patterns=["rewritten text \\(\\w+\\) of 2"]).rewrite(requests_(3))
    assert len(server.chat_received) == sent
    assert again["ex1:rewrite"].ok and again["ex1:rewrite"].cached
    assert {r.failure for cid, r in again.items() if cid != "ex1:rewrite"} <= {None, "refusal: apology"}


def test_the_cache_answers_a_rerun_and_identical_requests_are_sent_once(server, project_dir):
    twice = requests_(5) + [RewriteRequest("dup:rewrite", "p 0: please rewrite this", "original 0", False)]
    first = backend(server).rewrite(twice)
    assert len(server.chat_received) == 5
    assert first["dup:rewrite"].text == first["ex0:rewrite"].text
    rerun = backend(server)
    second = rerun.rewrite(twice)
    assert len(server.chat_received) == 5, "a rerun sent a request that had finished"
    assert all(r.cached for r in second.values()) and rerun.stats["cached"] == 6
    assert {k: v.text for k, v in second.items()} == {k: v.text for k, v in first.items()}
    rows = sqlite3.connect(project_dir / "data/cache/responses.sqlite").execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert rows == 5
    # Another temperature, max_tokens or server is another request.
    build("rewriters", "openai", None, "gpt-4o-2024-08-06", 0.2, 0, {"base_url": server.url, **FAST}).rewrite(twice[:1])
    backend(server, max_tokens=50).rewrite(twice[:1])
    assert len(server.chat_received) == 7
    assert server.chat_received[-1]["max_tokens"] == 50 and server.chat_received[-2]["temperature"] == 0.2


def test_cache_off_keeps_nothing_on_disk(server, project_dir):
    backend(server, cache=False).rewrite(requests_(3))
    backend(server, cache=False).rewrite(requests_(3))
    assert len(server.chat_received) == 6
    assert not (project_dir / "data/cache").exists()


def test_usage_is_recorded_and_priced_only_where_a_price_is_known(server):
    # The fake server is not OpenAI: an OpenAI model name there is no reason to charge OpenAI's price.
    rewriter = backend(server)
    results = rewriter.rewrite(requests_(4))
    prompt = sum(r.usage["prompt_tokens"] for r in results.values())
    completion = sum(r.usage["completion_tokens"] for r in results.values())
    summary = rewriter.summary()
    assert summary["prompt_tokens"] == prompt > 0 and summary["completion_tokens"] == completion > 0
    assert summary["cost_usd"] == "no price"
    assert summary["sent"] == 4 and summary["answered"] == 4
    priced = backend(server, price_per_million_tokens=[2.5, 10.0])
    priced.rewrite(requests_(4))  # answered from the cache: the tokens it counts are the ones sent now
    assert priced.price(prompt, completion) == pytest.approx((prompt * 2.5 + completion * 10.0) / 1e6)
    on_openai = build("rewriters", "openai", None, "gpt-4o-2024-08-06", 0.7, 0,
                      {"base_url": "https://api.openai.com/v1"})
    assert on_openai.price(1_000_000, 1_000_000) == pytest.approx(12.5)
    assert build("rewriters", "openai", None, "my-model", 0.7, 0, {"base_url": "https://api.openai.com/v1"}).price(1, 1) is None


@pytest.mark.parametrize("bad", [[1.0], [1.0, -2.0], ["a", 1.0], [True, 1.0]])
def test_a_price_must_be_two_non_negative_numbers(bad):
    import utils

    with pytest.raises(utils.RateError, match="rewrites.price_per_million_tokens"):
        build("rewriters", "openai", None, "m", 0.0, 0, {"price_per_million_tokens": bad})


@pytest.mark.slow
def test_concurrency_is_bounded_and_used(project_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake = FakeOpenAI(latency=0.1).start()
    try:
        rewriter = backend(fake, max_concurrency=16, timeout=30.0)
        results = rewriter.rewrite(requests_(64))
    finally:
        fake.stop()
    assert all(r.ok for r in results.values())
    # 64 requests of 0.1 s: the adaptive limit doubles from 1 to 16 within the first few answers, and
    # the server then holds 16 at once, never more.
    assert fake.max_in_flight == 16 and rewriter.stats["concurrency_highest"] == 16


@pytest.mark.slow
@pytest.mark.parametrize("adaptive", [True, False])
def test_a_server_that_answers_one_at_a_time_gets_no_timeouts_with_adaptive_concurrency(project_dir, monkeypatch,
                                                                                        adaptive):
    # 30 requests of 0.1 s each, one at a time, against a 1 s timeout: with 30 in flight the last ones
    # would wait 3 s. The adaptive limit holds what the server gets through in a quarter of the
    # timeout, so nothing times out; a fixed limit of 64 times out and retries.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake = FakeOpenAI(latency=0.1, serial=True).start()
    try:
        rewriter = backend(fake, adaptive_concurrency=adaptive, timeout=1.0, max_retries=1)
        results = rewriter.rewrite(requests_(30))
    finally:
        fake.stop()
    if adaptive:
        assert all(r.ok for r in results.values()) and rewriter.stats["retries"] == 0
        assert len(fake.chat_received) == 30 and fake.max_in_flight <= 3
    else:
        assert rewriter.stats["retries"] > 0 and fake.max_in_flight > 10


def paced(monkeypatch, requests_per_minute, tokens_per_minute, tokens: int, times: int) -> float:
    """The seconds a RateLimiter that starts empty makes `times` acquisitions of `tokens` wait, on a
    clock that only its sleeps move: what the pacing asks for, free of the machine's speed."""
    from types import SimpleNamespace

    from rewriters import openai as module

    clock = [0.0]

    async def sleep(seconds):
        clock[0] += seconds

    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=sleep, Lock=asyncio.Lock))

    async def go():
        limiter = module.RateLimiter(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute)
        limiter.levels = [0.0, 0.0]  # start empty to see the refill rate
        for _ in range(times):
            await limiter.acquire(tokens)

    asyncio.run(go())
    return clock[0]


def test_rate_limiter_paces_requests_per_minute(monkeypatch):
    # 600 a minute is one every 0.1 s
    assert paced(monkeypatch, 600, None, tokens=100, times=5) == pytest.approx(0.5)


def test_rate_limiter_paces_tokens_per_minute(monkeypatch):
    # 6,000 tokens a minute is 20 tokens every 0.2 s
    assert paced(monkeypatch, None, 6000, tokens=20, times=3) == pytest.approx(0.6)


def test_rate_limiter_waits_for_the_tighter_budget(monkeypatch):
    # 60 requests (one a second) and 6,000 tokens a minute: 10 tokens a time is limited by the requests
    assert paced(monkeypatch, 60, 6000, tokens=10, times=4) == pytest.approx(4.0)


def test_missing_api_key_is_a_user_error(project_dir, monkeypatch):
    import utils

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(utils.RateError, match="OPENAI_API_KEY"):
        build("rewriters", "openai", None, "gpt-4o", 0.7, 0, {}).rewrite(requests_(1))


def test_a_local_server_needs_no_key(project_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake = FakeOpenAI().start()
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url)  # the client's own variable is honoured too
        results = build("rewriters", "openai", None, "local-model", 0.0, 0, FAST).rewrite(requests_(2))
    finally:
        fake.stop()
    assert all(r.ok for r in results.values()) and len(fake.chat_received) == 2


# ---------------------------------------------------------------------------------------------
# Errors no retry can fix, and a deadline no server can stretch
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("kind, hint", [("401", "OPENAI_API_KEY"), ("403", "rewrites.model"),
                                        ("404", "rewrites.model and rewrites.base_url"), ("quota", "quota is exhausted")])
def test_an_error_no_retry_can_fix_stops_the_run_at_once(server, project_dir, kind, hint):
    import utils

    server.add_fault(kind, times=10**6)
    rewriter = backend(server, max_concurrency=4)
    with pytest.raises(utils.RateError) as info:
        rewriter.rewrite(requests_(40))
    message = str(info.value)
    assert hint in message and "no output was written" in message and "\n" not in message
    # Only the requests already in flight when the first such answer came were sent; none twice.
    assert len(server.chat_received) <= 4 and rewriter.stats["retries"] == 0
    assert "7f***********CRET" not in message and "sk-***" in message if kind == "401" else True


def test_the_same_400_for_the_first_requests_stops_the_run_but_one_bad_request_does_not(server, project_dir):
    import utils

    server.add_fault("400", times=1, match="p 0:")
    results = backend(server, max_concurrency=1).rewrite(requests_(5))
    assert results["ex0:rewrite"].failure.startswith("HTTP 400") and all(r.ok for k, r in results.items() if k != "ex0:rewrite")
    server.add_fault("400", times=10**6)
    with pytest.raises(utils.RateError, match="for the first 3 requests alike"):
        backend(server, max_concurrency=1, cache=False).rewrite(requests_(20, tag="q"))
    assert len(server.chat_received) == 5 + 3


def test_answers_received_before_a_fatal_error_stay_in_the_cache(server, project_dir):
    import utils

    server.add_fault("401", times=10**6, match="p 3:")
    with pytest.raises(utils.RateError):
        backend(server, max_concurrency=1).rewrite(requests_(10))
    again = backend(server, max_concurrency=1)
    with pytest.raises(utils.RateError):
        again.rewrite(requests_(10))
    assert again.stats["cached"] == 3, "the three answers before the refusal were kept"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["drip", "stall"])
def test_a_slow_or_stalled_server_cannot_stretch_the_deadline(project_dir, monkeypatch, kind):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    fake = FakeOpenAI().start()
    fake.add_fault(kind, times=10**6, delay=0.2)
    results: dict = {}
    # On a thread, so that a deadline that fails to hold (a per-read timeout, which a drip never
    # reaches) is a failed assertion rather than a test that never ends.
    worker = threading.Thread(target=lambda: results.update(
        backend(fake, timeout=1.0, max_retries=1, adaptive_concurrency=False).rewrite(requests_(3))), daemon=True)
    try:
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "the answers' deadline did not end the requests"
    finally:
        fake.stop()
    assert len(results) == 3
    assert all(r.failure.startswith("gave up after 2 attempts: timeout") for r in results.values())


def test_a_reset_connection_is_retried(server, project_dir):
    server.add_fault("reset", times=2)
    results = backend(server, max_concurrency=1).rewrite(requests_(3))
    assert all(r.ok for r in results.values()) and len(server.chat_received) == 5


def test_answers_billed_but_unusable_count_in_usage_and_cost(server):
    """A 200 without choices is retried, and the tokens its usage reports are paid for: they count."""
    server.add_fault("no_choices", times=2)
    rewriter = backend(server, max_concurrency=1, price_per_million_tokens=[1.0, 1.0])
    results = rewriter.rewrite(requests_(3))
    assert all(r.ok for r in results.values())
    usable = sum(r.usage["prompt_tokens"] for r in results.values())
    assert rewriter.stats["billed_unusable"] == 2
    assert rewriter.stats["prompt_tokens"] > usable  # the two unusable answers' prompt tokens on top
    unusable_prompt = rewriter.stats["prompt_tokens"] - usable
    assert rewriter.stats["completion_tokens"] == sum(r.usage["completion_tokens"] for r in results.values()) + 2 * 3
    summary = rewriter.summary()
    assert summary["cost_usd"] == round((usable + unusable_prompt + rewriter.stats["completion_tokens"]) / 1e6, 4)
