"""Both rewrite passes without a barrier (issue 17): the `openai` backend asks for a rewritten rewrite
as soon as its rewrite is in, on the same client. Checked against the local fake server: the order
requests arrive in, outputs and accounting equal to the two-pass design (failures, refusals, checks,
duplicates, a follow-up that another example's first request already asks), a SIGKILL and resume
that redoes nothing answered, and the two progress bars."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import REPO
from dataset_templates import _rewrites as passes
from dataset_templates._sampling import Example

FAST = {"retry_backoff": 0.01, "retry_backoff_max": 0.05, "timeout": 10.0, "adaptive_concurrency": False}


class Template:
    """What rewrite_twice asks of a dataset template: a prompt, and a check of each rewrite."""

    name = "pipelined"
    oracle_counterfactual = None

    @staticmethod
    def prompt_for(text: str, w: bool) -> str:
        return f"Make it {'positive' if w else 'negative'}: {text}"

    @staticmethod
    def rewrite_check(text: str, rewrite: str):
        return "the marker is gone" if "BADCHECK" in rewrite else None


TEMPLATE = Template()


def respond(prompt: str) -> str:
    ask, text = prompt.split(": ", 1)
    return f"{'Sunny' if ask.endswith('positive') else 'Gloomy'} take on {text}"


def examples(n: int) -> list[Example]:
    return [Example(f"e{i}", bool(i % 2), "q", f"review number {i} of the set") for i in range(n)]


def settings(url: str, **more) -> dict:
    return {"base_url": url, **FAST, **more}


def backend(url: str, **more):
    from template_contract import build

    return build("rewriters", "openai", None, "gpt-4o-2024-08-06", 0.7, 0, settings(url, **more))


def child_backend(url: str):
    from rewriters.openai import build

    return build({}, None, "gpt-4o-2024-08-06", 0.7, 0, settings(url, max_concurrency=4))


def received(server) -> list[tuple[float, str]]:
    return [(t, body["messages"][0]["content"]) for t, body in zip(server.chat_times, server.chat_received)]


@pytest.fixture
def fake(server):
    server.responder = respond
    return server


# -- (a) no barrier ------------------------------------------------------------------------------


def second_requests_while_a_first_is_slow(fake, pipelines: bool) -> tuple[float, list[float]]:
    """When the slow first request of e0 arrived, and when the other examples' second requests did."""
    fake.add_fault("timeout", times=1, delay=2.0, match="review number 0 of")
    rewriter = backend(fake.url, max_concurrency=4)
    rewriter.pipelines = pipelines  # False: the engine's fallback, two sequential passes as before issue 17
    results = passes.rewrite_twice(examples(8), TEMPLATE, rewriter)
    assert all(result.ok for result in results.values()) and len(results) == 16
    log = received(fake)
    slow = next(t for t, prompt in log if prompt.startswith("Make it positive: review number 0 of"))
    seconds = [t for t, prompt in log if "take on review" in prompt and "number 0 of" not in prompt]
    assert len(seconds) == 7
    return slow, seconds


@pytest.mark.slow
def test_second_rewrites_are_sent_while_another_first_rewrite_is_still_out(fake):
    slow, seconds = second_requests_while_a_first_is_slow(fake, pipelines=True)
    assert max(seconds) < slow + 1.0, "a second rewrite waited for the slow first one"


@pytest.mark.slow
def test_the_barrier_design_fails_that_check(fake):
    """The same run through two sequential passes: every second rewrite waits for the slow one."""
    slow, seconds = second_requests_while_a_first_is_slow(fake, pipelines=False)
    assert min(seconds) >= slow + 2.0


# -- (b) the same outputs as two passes ------------------------------------------------------------


def tricky_examples() -> list[Example]:
    """Failures of either pass, a refusal, a failed check, a truncation, a retry, two identical
    examples, and two pairs where one example's second request is the other's first request (one
    pair failing there), in either order."""
    odd = [Example("refused", True, "q", "REFUSE this one"), Example("bad-check", False, "q", "a BADCHECK review"),
           Example("cut", True, "q", "a LENGTH review"), Example("second-400", False, "q", "FAIL2 in its second"),
           Example("retried", True, "q", "RETRY once"), Example("twin-a", False, "q", "twins"),
           Example("twin-b", False, "q", "twins")]
    pairs = []
    for tag in ("collide ok", "collide bad"):
        rewrite = respond(TEMPLATE.prompt_for(tag, False))  # what the first rewrite of `tag` (w=1) will be
        pair = [Example(f"{tag}: a", True, "q", tag), Example(f"{tag}: b", False, "q", rewrite)]
        pairs += pair if tag == "collide ok" else pair[::-1]
    plain = examples(10)
    return plain[:5] + odd + pairs + plain[5:]


def add_faults(server) -> None:
    server.faults.clear()
    server.add_fault("refusal", times=10**6, match="REFUSE")
    server.add_fault("length", times=10**6, match="a LENGTH")
    server.add_fault("400", times=10**6, match="take on FAIL2")
    server.add_fault("500", times=1, match="RETRY")
    server.add_fault("500", times=10**6, match="Make it positive: Gloomy take on collide bad")


ACCOUNTS = ("requests", "cached", "answered", "unanswered", "sent", "retries", "prompt_tokens", "completion_tokens")


def run_design(fake, monkeypatch, tmp_path, pipelines: bool):
    monkeypatch.setenv("PROJECT_DIR", str(tmp_path / str(pipelines)))
    add_faults(fake)
    rewriter = backend(fake.url, max_concurrency=3, max_retries=1)
    rewriter.pipelines = pipelines  # False: the engine's fallback, two sequential passes as before issue 17
    chosen = tricky_examples()
    results = passes.rewrite_twice(chosen, TEMPLATE, rewriter)
    records = [passes.make_record(ex, results, TEMPLATE) for ex in chosen]
    return results, records, {key: rewriter.stats[key] for key in ACCOUNTS}


@pytest.mark.slow
def test_outputs_and_accounting_equal_the_two_pass_design(fake, monkeypatch, tmp_path):
    results, records, accounts = run_design(fake, monkeypatch, tmp_path, pipelines=True)
    barrier = run_design(fake, monkeypatch, tmp_path, pipelines=False)
    assert results == barrier[0]  # texts, failure reasons, usage, finish reasons, cached flags
    assert records == barrier[1] and accounts == barrier[2]
    failures = {r["id"]: r["failures"] for r in records if r.get("failures")}
    unfinished = {"rewritten rewrite": "not attempted: the rewrite failed"}
    gave_up = "gave up after 2 attempts: HTTP 500: The server had an error"
    assert failures == {
        "refused": {"rewrite": "refusal: apology", **unfinished},
        "bad-check": {"rewrite": "did not follow the prompt: the marker is gone", **unfinished},
        "cut": {"rewrite": "truncated (finish_reason=length)", **unfinished},
        "second-400": {"rewritten rewrite": "HTTP 400: Invalid request"},
        "collide bad: a": {"rewritten rewrite": gave_up},
        "collide bad: b": {"rewrite": gave_up, **unfinished}}
    # 21 first requests (20 distinct), 17 second ones (15 distinct, one of them the first request of
    # "collide ok: b", cached as the barrier's second pass found it); 3 failed to get an answer.
    assert accounts["requests"] == 21 + 17 and accounts["cached"] == 1
    assert accounts["answered"] == 20 + 15 - 3 and accounts["unanswered"] == 3
    # one retry for "RETRY once", one for each attempt at the request that always fails
    assert accounts["sent"] == 20 + 15 + 3 and accounts["retries"] == 3


# -- (c) SIGKILL and resume -------------------------------------------------------------------------

CHILD = r"""
import sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
from dataset_templates import _rewrites as passes
from test_rewrite_pipelined import TEMPLATE, child_backend, examples
passes.rewrite_twice(examples(10), TEMPLATE, child_backend(sys.argv[2]))
"""


@pytest.mark.slow
def test_a_killed_run_resumes_without_sending_anything_that_was_answered(fake, project_dir):
    fake.hang_after = 13  # ten first rewrites and a few second ones, then hold everything
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(REPO), fake.url], env=dict(os.environ),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while fake.chat_answered < 13 or len(fake.chat_received) < 17:
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.02)
    time.sleep(0.5)  # the answers are committed before the next is awaited
    child.send_signal(signal.SIGKILL)
    child.wait()
    connection = sqlite3.connect(project_dir / "data/cache/responses.sqlite")
    finished = connection.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    connection.close()
    assert finished >= 13
    fake.hang_after = None
    fake.release.set()

    before = len(fake.chat_received)
    rewriter = backend(fake.url, max_concurrency=4)
    results = passes.rewrite_twice(examples(10), TEMPLATE, rewriter)
    again = [prompt for _, prompt in received(fake)[before:]]
    # Every request not answered before the kill, once: second rewrites of cached first ones.
    assert len(again) == len(set(again)) == 20 - finished and all("take on" in prompt for prompt in again)
    assert rewriter.stats["cached"] == finished and all(result.ok for result in results.values()) and len(results) == 20
    assert all(results[f"e{i}:rewrite"].cached for i in range(10))


# -- (d) the progress bars --------------------------------------------------------------------------


def test_both_bars_end_at_what_each_round_really_asked(fake, monkeypatch):
    import tqdm

    bars = []

    class Recorded(tqdm.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.position_asked = kwargs.get("position")
            self.overshot = False
            bars.append(self)

        def update(self, n=1):
            super().update(n)
            self.overshot |= self.n > self.total

    monkeypatch.setattr(tqdm, "tqdm", Recorded)
    chosen = examples(12) + [Example("refused", True, "q", "REFUSE it"), Example("bad-check", False, "q", "BADCHECK")]
    fake.add_fault("refusal", times=10**6, match="REFUSE")
    rewriter = backend(fake.url, max_concurrency=4)
    results = passes.rewrite_twice(chosen, TEMPLATE, rewriter)
    one, two = bars
    assert (one.desc, one.position_asked, one.n, one.total) == (passes.ROUNDS[0], 0, 14, 14)
    assert (two.desc, two.position_asked, two.n, two.total) == (passes.ROUNDS[1], 1, 12, 12)
    assert not one.overshot and not two.overshot
    assert sum(result.ok for result in results.values()) == 24
    # A refusal and a failed check are answers all the same: the bar counts what the server did.
    assert "done=14" in str(one) and "done=12" in str(two)
