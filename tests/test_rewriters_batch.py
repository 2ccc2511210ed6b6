"""The `openai_batch` backend against the local fake Batch API: splitting, persistence before
waiting, partial results of failed/expired/cancelled batches, the error file, matching by custom_id,
the enqueued-token limit, and reattaching after a crash."""

from __future__ import annotations

import json

import pytest

from fake_openai import BatchPlan
from rewriters import RewriteRequest

FAST = {"retry_backoff": 0.01, "retry_backoff_max": 0.05, "timeout": 5.0, "poll_interval": 0.01}


def requests_(n: int) -> list[RewriteRequest]:
    return [RewriteRequest(f"ex{i}:rewrite", f"b {i}: please rewrite this", f"original {i}", bool(i % 2)) for i in range(n)]


def backend(server, options=None, **settings):
    from rewriters import openai_batch

    return openai_batch.build({**openai_batch.OPTIONS, **(options or {})}, None, "gpt-4o-2024-08-06", 0.7, 0,
                              {"base_url": server.url, **FAST, **settings})


def submitted(server) -> list[str]:
    return [cid for lines in server.batch_lines for cid in lines]


def test_split_respects_both_limits():
    from rewriters.openai_batch import split_lines

    lines = [json.dumps({"n": i, "pad": "x" * (i % 7)}) for i in range(23)]
    chunks = split_lines(lines, max_requests=5, max_bytes=10_000)
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 3] and sum(chunks, []) == lines
    by_size = split_lines(lines, max_requests=100, max_bytes=80)
    assert sum(by_size, []) == lines
    assert all(sum(len(line) + 1 for line in chunk) <= 80 for chunk in by_size) and len(by_size) > 1


@pytest.mark.slow
def test_results_are_matched_by_custom_id_and_files_split(server, project_dir):
    rewriter = backend(server, {"max_requests_per_file": 4})
    results = rewriter.rewrite(requests_(10))
    assert [len(lines) for lines in server.batch_lines] == [4, 4, 2]
    # The fake writes output lines in reverse order: matching by position would mix them up.
    for request in requests_(10):
        assert results[request.custom_id].text == server.responder(request.prompt)
    folder = project_dir / "data/batch_api"
    states = [json.loads(p.read_text()) for p in folder.glob("*.batch.json")]
    assert len(states) == 3 and all(s["collected"] and s["status"] == "completed" and s["batch_id"] for s in states)
    assert len(list(folder.glob("*.requests.jsonl"))) == 3 and len(list(folder.glob("*_output.jsonl"))) == 3
    line = json.loads(next(folder.glob("*.requests.jsonl")).read_text().splitlines()[0])
    assert line["url"] == "/v1/chat/completions" and line["body"]["model"] == "gpt-4o-2024-08-06"
    assert rewriter.summary()["batches_completed"] == 3
    assert all(rewriter.rewrite(requests_(10))[r.custom_id].cached for r in requests_(10))
    assert len(server.batch_lines) == 3  # answered from the cache: nothing resubmitted


@pytest.mark.slow
@pytest.mark.parametrize("end", ["expired", "cancelled", "failed"])
def test_an_unfinished_batch_keeps_its_lines_and_resubmits_only_the_missing(server, end):
    server.batch_plans = [BatchPlan(end=end, finish=3)]
    results = backend(server).rewrite(requests_(8))
    assert all(r.ok for r in results.values())
    assert server.batch_lines[0] == [f"ex{i}:rewrite" for i in range(8)]
    assert server.batch_lines[1] == [f"ex{i}:rewrite" for i in range(3, 8)]
    assert len(server.batch_lines) == 2


@pytest.mark.slow
def test_the_error_file_gives_failures_and_an_error_only_batch_is_read(server):
    server.batch_plans = [BatchPlan(end="completed", finish=4, errors=2, error_status=400)]
    results = backend(server).rewrite(requests_(8))
    assert [cid for cid, r in results.items() if not r.ok] == ["ex4:rewrite", "ex5:rewrite"]
    assert results["ex4:rewrite"].failure == "batch: HTTP 400: Invalid value for messages"
    assert server.batch_lines[1] == ["ex6:rewrite", "ex7:rewrite"]  # missing lines: resubmitted

    server.batch_plans = [BatchPlan(end="errors_only", error_status=500)]
    later = [RewriteRequest("z:rewrite", "b z: please rewrite this", "original z", True)]
    assert backend(server).rewrite(later)["z:rewrite"].ok  # a 5xx line is retried in a new batch
    assert server.batch_lines[-1] == ["z:rewrite"] and server.batch_lines[-2] == ["z:rewrite"]


def test_refusals_and_truncations_inside_a_batch_are_failures(server):
    server.add_fault("refusal", match="b 1:")
    server.add_fault("length", match="b 2:")
    results = backend(server).rewrite(requests_(4))
    assert results["ex1:rewrite"].failure == "refusal: apology" and results["ex1:rewrite"].text is None
    assert results["ex2:rewrite"].failure == "truncated (finish_reason=length)"
    assert results["ex0:rewrite"].ok and results["ex3:rewrite"].ok


@pytest.mark.slow
def test_the_enqueued_token_limit_waits_and_resubmits(server):
    server.batch_plans = [BatchPlan(polls=3), BatchPlan(end="token_limit")]
    results = backend(server, {"max_requests_per_file": 3}).rewrite(requests_(6))
    assert all(r.ok for r in results.values())
    assert server.batch_lines == [[f"ex{i}:rewrite" for i in range(3)], [f"ex{i}:rewrite" for i in range(3, 6)],
                                  [f"ex{i}:rewrite" for i in range(3, 6)]]
    first, refused, again = (batch_id for event, batch_id in server.events if event == "created")
    # Resubmitted only once the run's other batch had finished (and released its enqueued tokens).
    assert server.events.index(("ended", first)) < server.events.index(("created", again))


def test_a_request_is_submitted_at_most_max_submissions_times(server):
    server.batch_plans = [BatchPlan(end="expired", finish=0)] * 5
    rewriter = backend(server, max_submissions=2)
    results = rewriter.rewrite(requests_(2))
    assert all(r.failure == "batch: no result after 2 submissions" for r in results.values())
    assert len(server.batch_lines) == 2


def test_a_rerun_reattaches_to_batches_in_flight(server, project_dir, monkeypatch):
    from rewriters import openai_batch

    # First run: submits, records the batch, then dies while waiting.
    class Crash(Exception):
        pass

    def crash(self, state):
        raise Crash()

    server.batch_plans = [BatchPlan(polls=2)]
    monkeypatch.setattr(openai_batch.BatchRewriter, "_poll", crash)
    with pytest.raises(Crash):
        backend(server).rewrite(requests_(5))
    monkeypatch.undo()
    monkeypatch.setenv("PROJECT_DIR", str(project_dir))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    state = json.loads(next((project_dir / "data/batch_api").glob("*.batch.json")).read_text())
    assert state["batch_id"] in server.batches and not state.get("collected")

    rerun = backend(server)
    results = rerun.rewrite(requests_(5))
    assert all(r.ok for r in results.values())
    assert len(server.batch_lines) == 1, "the rerun paid again instead of reattaching"
    assert rerun.stats["batches_reattached"] == 1
    # Reattaching only the part still needed: a new request goes into a new batch.
    more = backend(server).rewrite(requests_(6))
    assert server.batch_lines[-1] == ["ex5:rewrite"] and sum(r.cached for r in more.values()) == 5


def test_a_validation_failure_is_not_resubmitted(server):
    from types import SimpleNamespace

    from rewriters import openai_batch

    rewriter = backend(server)
    failures = {}
    batch = SimpleNamespace(id="batch_x", status="failed", output_file_id=None, error_file_id=None,
                            errors=SimpleNamespace(data=[SimpleNamespace(code="invalid_request", line=1,
                                                                         message="bad line", param=None)]))
    path = rewriter.folder
    path.mkdir(parents=True)
    (path / "f.batch.json").write_text("{}")
    state = {"keys": {"a": "k1"}, "path": str(path / "f.batch.json")}
    missing, limited = openai_batch.BatchRewriter._collect(rewriter, state, batch, {"k1": None},
                                                           lambda k, a: None, failures.__setitem__)
    assert missing == set() and not limited
    assert failures == {"k1": "batch failed: invalid_request: bad line"}


def test_a_recorded_batch_the_server_does_not_know_is_resubmitted(server, project_dir):
    folder = project_dir / "data/batch_api"
    folder.mkdir(parents=True)
    rewriter = backend(server)
    keys = {r.custom_id: rewriter.key(r) for r in requests_(2)}
    (folder / "file-gone.batch.json").write_text(json.dumps({
        "input_file_id": "file-gone", "batch_id": "batch_gone", "family": rewriter.cache_family(), "model": "gpt-4o",
        "submitted_at": "then", "keys": keys}))
    results = rewriter.rewrite(requests_(2))
    assert all(r.ok for r in results.values()) and server.batch_lines == [["ex0:rewrite", "ex1:rewrite"]]
    assert json.loads((folder / "file-gone.batch.json").read_text())["status"] == "not found"


def test_a_batch_cancelled_while_the_run_was_down_gives_its_lines_and_the_rest_is_resubmitted(server, project_dir,
                                                                                               monkeypatch):
    import openai

    from rewriters import openai_batch

    class Crash(Exception):
        pass

    def crash(self, state):
        raise Crash()

    server.batch_plans = [BatchPlan(polls=5, finish=2)]
    with monkeypatch.context() as patch:
        patch.setattr(openai_batch.BatchRewriter, "_poll", crash)
        with pytest.raises(Crash):
            backend(server).rewrite(requests_(5))
    state = json.loads(next((project_dir / "data/batch_api").glob("*.batch.json")).read_text())
    client = openai.OpenAI(base_url=server.url, api_key="sk-test-not-a-real-key")
    assert client.batches.cancel(state["batch_id"]).status == "cancelling"
    client.close()

    rerun = backend(server)
    results = rerun.rewrite(requests_(5))
    assert all(r.ok for r in results.values())
    assert server.batch_lines[1] == [f"ex{i}:rewrite" for i in range(2, 5)]
    assert rerun.stats["batches_reattached"] == 1 and rerun.stats["batches_cancelled"] == 1
