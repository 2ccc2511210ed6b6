"""`llm_judge`: an LLM's rating as the reward, against tests/fake_openai.py. The expected rating from
log-probabilities, the parsed one, failures recorded (never 0) and dropped by phase 3 with a reason,
a checkpoint that keeps failures, a rerun that sends nothing, the dry run and the rubric check."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import utils
from conftest import run_script
from fake_judge import judge_rating, judge_stand_in
from scoring import engine as scoring_engine
from scoring_templates import RewardModel, llm_judge

UNRATEABLE = "UNRATEABLE"
QUESTION = "Write a movie review: "


def position(token: str, top: list[tuple[str, float]]) -> dict:
    """One generated token as the engine keeps it, with its top alternatives given as probabilities."""
    return {"token": token, "logprob": math.log(top[0][1]),
            "top": [[t, math.log(p)] for t, p in top]}


def test_the_expected_rating_is_renormalised_over_the_scale_s_tokens():
    top = [("7", 0.5), (" 8", 0.25), ("8", 0.05), ("x", 0.15), ("11", 0.05)]
    # "x" and "11" (outside 1-10) drop out: (7 * 0.5 + 8 * 0.3) / 0.8
    assert llm_judge.expected_rating([position("7", top)], 1, 10) == pytest.approx(7.375)
    # the first token that is a rating is read: "Rating", ":" before it are not
    at_third = [position("Rating", [("Rating", 1.0)]), position(":", [(":", 1.0)]), position(" 3", [(" 3", 0.8), ("4", 0.2)])]
    assert llm_judge.expected_rating(at_third, 1, 10) == pytest.approx(3.2)
    assert llm_judge.expected_rating([position("x", [("x", 1.0)])], 1, 10) is None


@pytest.mark.parametrize("answer, rating, reason", [
    ("7", 7.0, None), (" 9/10", 9.0, None), ("Rating: 3.5", 3.5, None),
    ("I cannot rate this.", None, "unparsable answer"), ("11", None, "rating outside the scale"),
    ("0", None, "rating outside the scale"), ("", None, "no answer text"), (None, None, "no answer text")])
def test_a_parsed_answer_is_its_first_number_within_the_scale(answer, rating, reason):
    found, why = llm_judge.rate({"text": answer}, 1, 10, use_logprobs=True)  # no logprobs in the reply: parsed
    assert found == rating and (why is None if reason is None else why.startswith(reason + ":")), why


@pytest.fixture
def judge(project_dir, monkeypatch):
    """The stand-in judge, which cannot rate a response holding UNRATEABLE."""
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    server, options = judge_stand_in()
    rate = server.responder
    server.responder = lambda prompt: "I cannot rate this." if UNRATEABLE in prompt else rate(prompt)
    yield server, options
    server.stop()


def built(options: dict, **more) -> RewardModel:
    return llm_judge.build({**llm_judge.OPTIONS, **options, **more})


def test_through_the_server_logprobs_give_the_expected_rating_and_without_them_the_parsed_one(judge):
    server, options = judge
    texts = ["The acting was wonderful.", "Dull.", "It has subtitles."]
    ratings = [judge_rating(llm_judge.fill(llm_judge.DEFAULT_RUBRIC, QUESTION, t, 1, 10)) for t in texts]
    with_logprobs = built(options).score_batch([QUESTION] * 3, texts)
    # p 0.6 on the rating, 0.3 on the next one up (1 after 10), 0.1 on "The": renormalised over 0.9
    assert with_logprobs == pytest.approx([(0.6 * r + 0.3 * (r % 10 + 1)) / 0.9 for r in ratings])
    assert server.chat_received[-1]["top_logprobs"] == llm_judge.TOP_LOGPROBS
    parsed = built(options, logprobs=False).score_batch([QUESTION] * 3, texts)
    assert parsed == [float(r) for r in ratings] and "logprobs" not in server.chat_received[-1]


def test_an_unparsable_answer_and_a_failed_request_are_failures_not_zeros(judge):
    server, options = judge
    server.add_fault("500", times=10, match="broken server")
    model = built(options)
    rewards, failures = model.score_with_failures([QUESTION] * 3, [f"{UNRATEABLE} text", "A fine text.", "broken server"])
    assert math.isnan(rewards[0]) and math.isnan(rewards[2]) and math.isfinite(rewards[1])
    assert failures[0].startswith("unparsable answer: no rating in 'I cannot rate this.'")
    assert failures[2].startswith("request failed: gave up after 2 attempts: HTTP 500")
    assert set(failures) == {0, 2}


def test_a_rubric_needs_both_placeholders_and_a_scale_two_rising_integers():
    with pytest.raises(utils.ConfigError, match=r"scoring.model_options.rubric: .* lacks \{completion\}"):
        llm_judge.check_options({**llm_judge.OPTIONS, "rubric": "Rate {question}."})
    with pytest.raises(utils.ConfigError, match="scoring.model_options.scale"):
        llm_judge.check_options({**llm_judge.OPTIONS, "scale": [5, 1]})
    assert llm_judge.fill("{question}|{completion}|{min}-{max}", "q {completion}", "c", 0, 4) == "q {completion}|c|0-4"


def test_the_checkpoint_keeps_a_failure_so_a_resumed_run_does_not_ask_again(tmp_path):
    asked = []

    def score_with_failures(questions, completions):
        asked.extend(completions)
        return ([math.nan if t == "bad" else float(len(t)) for t in completions],
                {i: "unparsable answer: 'x'" for i, t in enumerate(completions) if t == "bad"})

    model = RewardModel("stub", "stub", lambda q, c: score_with_failures(q, c)[0], score_with_failures=score_with_failures)
    checkpoint = scoring_engine.Checkpoint(tmp_path / "ck.jsonl")
    texts = ["a", "bad", "ccc", "bad", "ee"]
    rewards, stats = scoring_engine.score_texts(model, [""] * 5, texts, max_tokens=100, max_texts=2,
                                                checkpoint=checkpoint, chunk_texts=2)
    assert stats.failures == {1: "unparsable answer: 'x'", 3: "unparsable answer: 'x'"} and stats.non_finite == 0
    assert stats.summary()["failed"] == 2 and stats.summary()["failures"] == {"unparsable answer": 2}
    asked.clear()
    again, resumed = scoring_engine.score_texts(model, [""] * 5, texts, max_tokens=100, max_texts=2,
                                                checkpoint=checkpoint, chunk_texts=2)
    assert asked == [] and resumed.failures == stats.failures and resumed.resumed == 5
    assert [r for r in again if not math.isnan(r)] == [1.0, 3.0, 2.0]


@pytest.mark.parametrize("failures, message", [
    ({"m": {"rewrite": "unparsable answer: 'x'"}}, None),
    ({"m": {"summary": "x"}}, "names 'summary', which is no completion"),
    ({"m": {"original": "x"}}, r"reward_failures.m.original is a failure, but the record has a reward there"),
    ({"m": {"rewrite": ""}}, "must map completion keys to reasons"), (["x"], "not a mapping")])
def test_a_record_s_reward_failures_are_validated(failures, message):
    record = {"id": "a", "w_original": True, "reward_question": "q", "reward_failures": failures,
              "completions": {"original": "o", "rewrite": "r", "rewritten rewrite": "b"},
              "m": {"original": 1.0, "rewrite": None, "rewritten rewrite": 2.0}}
    if message is None:
        utils.record.validate([record], "f.jsonl")
        return
    with pytest.raises(utils.RateError, match=message):
        utils.record.validate([record], "f.jsonl")


# -- score_dataset.py --------------------------------------------------------------------------------

def write_rewrites(n: int = 6) -> list[dict]:
    records = [{"id": f"r-{i}", "w_original": i % 2 == 0, "reward_question": QUESTION,
                "completions": {"original": f"Review number {i}, quite long.", "rewrite": f"Review {i}, short.",
                                "rewritten rewrite": f"Review number {i} again, long."}} for i in range(n)]
    records[1]["completions"]["rewrite"] = f"{UNRATEABLE} review"
    records[3]["completions"]["rewrite"] = records[3]["completions"]["rewritten rewrite"] = None
    records[3]["failures"] = {"rewrite": "refused"}
    folder = utils.folder("rewrites")
    folder.mkdir(parents=True, exist_ok=True)
    utils.write_jsonl(folder / "toy_dataset_20240101_000000.jsonl", records)
    return records


def config_for(project_dir: Path, options: dict) -> Path:
    config = project_dir.parent / "judge.yaml"
    config.write_text(json.dumps({"rewrites": {"dataset_name": "toy"},
                                  "scoring": {"model": "llm_judge", "model_options": {**options, "cache": True}}}))
    return config


def scored(done) -> tuple[list[dict], dict]:
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    return [json.loads(line) for line in path.read_text().splitlines()], utils.read_meta(path)


def test_score_dataset_records_failures_counts_them_and_phase_3_drops_them(judge, project_dir):
    from estimation.inputs import reward_arrays

    server, options = judge
    write_rewrites()
    config = config_for(project_dir, options)
    done = run_script("score_dataset.py", "--config", str(config))
    records, meta = scored(done)
    key = "llm_judge:fake-judge"
    assert records[1][key]["rewrite"] is None
    assert records[1]["reward_failures"] == {key: {"rewrite": "unparsable answer: no rating in 'I cannot rate this.'"}}
    assert all("reward_failures" not in r for i, r in enumerate(records) if i != 1)
    rewards = [v for r in records for v in r[key].values() if v is not None]
    assert len(rewards) == 6 * 3 - 2 - 1 and all(1 <= v <= 10 for v in rewards)
    summary = meta["counts"]["models"]["llm_judge"]
    assert meta["counts"]["reward_failures"] == {key: {"unparsable answer": 1}}
    assert summary["failed"] == 1 and summary["api requests"] == 16 and summary["api cost_usd"] == "no price"
    assert "failed: llm_judge:fake-judge: 1 texts without a reward (unparsable answer 1); 2 texts of failed" in done.stderr
    utils.record.validate(records, "scored")
    _, dropped, _ = reward_arrays(records, key, {name: name for name in ("original", "rewrite", "rewritten rewrite")})
    assert dropped == {"failed rewrite": 1, "no finite reward for rewrite": 1}

    # a rerun is answered from the cache: the server sees no request, and the rewards are the same
    sent = len(server.chat_received)
    again, meta_again = scored(run_script("score_dataset.py", "--config", str(config)))
    assert len(server.chat_received) == sent and again == records
    assert meta_again["counts"]["models"]["llm_judge"]["api cached"] == 16


def test_a_request_failing_after_its_retries_is_recorded_with_its_reason(judge, project_dir):
    server, options = judge
    write_rewrites()
    server.add_fault("500", times=10, match="Review 2, short.")
    records, meta = scored(run_script("score_dataset.py", "--config",
                                      str(config_for(project_dir, options))))
    reason = records[2]["reward_failures"]["llm_judge:fake-judge"]["rewrite"]
    assert reason.startswith("request failed: gave up after 2 attempts: HTTP 500")
    assert records[2]["llm_judge:fake-judge"]["rewrite"] is None
    assert meta["counts"]["reward_failures"]["llm_judge:fake-judge"] == {"request failed": 1, "unparsable answer": 1}


def test_the_dry_run_estimates_and_sends_and_writes_nothing(judge, project_dir):
    server, options = judge
    write_rewrites()
    config = config_for(project_dir, {**options, "price_per_million_tokens": [1.0, 2.0]})
    done = run_script("score_dataset.py", "--config", str(config), "--scoring.dry_run=true",
                      "--scoring.placebo=length")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "dry run: llm_judge (reward key llm_judge:fake-judge), backend openai, model fake-judge" in done.stdout
    assert "requests:                16 (0 answered from the cache, 16 to send)" in done.stdout
    assert "estimated output tokens: 64 (at most max_tokens each)" in done.stdout  # 16 x max_tokens 4
    assert "estimated cost:          $0.00" in done.stdout
    assert "length: scores in this process; sends nothing to pay for" in done.stdout
    assert done.stdout.strip().endswith("nothing was sent, nothing was written")
    assert server.chat_received == []
    assert not (project_dir / "data" / "scored").exists() and not (project_dir / "data" / "cache").exists()


def test_an_estimate_on_openai_needs_no_key_and_is_priced_from_the_table(project_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    plan = llm_judge.build(dict(llm_judge.OPTIONS)).estimate([QUESTION] * 2, ["Good.", "Bad."])
    assert plan["requests"] == plan["to_send"] == 2 and plan["output_tokens"] == 2 * llm_judge.OPTIONS["max_tokens"]
    expected = (plan["input_tokens"] * 0.15 + plan["output_tokens"] * 0.60) / 1e6  # gpt-4o-mini
    assert plan["cost_usd"] == pytest.approx(expected) and not (project_dir / "data").exists()


def test_a_rubric_without_its_placeholders_stops_the_run_in_one_line(judge, project_dir):
    _, options = judge
    write_rewrites()
    config = config_for(project_dir, {**options, "rubric": "Rate this: {question}"})
    done = run_script("score_dataset.py", "--config", str(config))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last == (f"error: {config}: scoring.model_options.rubric: the rubric must hold {{question}} and "
                    "{completion}; it lacks {completion}")


def test_a_resumed_run_asks_again_for_a_failed_request_but_not_for_an_unreadable_answer(tmp_path):
    asked, down = [], {"ccc"}

    def score_with_failures(questions, completions):
        asked.extend(completions)
        failed = {i: "unparsable answer: 'x'" if t == "bad" else "request failed: HTTP 500"
                  for i, t in enumerate(completions) if t == "bad" or t in down}
        return [math.nan if i in failed else float(len(t)) for i, t in enumerate(completions)], failed

    model = RewardModel("stub", "stub", lambda q, c: score_with_failures(q, c)[0], score_with_failures=score_with_failures)
    checkpoint = scoring_engine.Checkpoint(tmp_path / "ck.jsonl")
    texts = ["a", "bad", "ccc", "ee"]
    scoring_engine.score_texts(model, [""] * 4, texts, max_tokens=100, max_texts=2, checkpoint=checkpoint, chunk_texts=2)
    asked.clear()
    down.clear()  # the server is back
    rewards, stats = scoring_engine.score_texts(model, [""] * 4, texts, max_tokens=100, max_texts=2,
                                                checkpoint=checkpoint, chunk_texts=2)
    assert asked == ["ccc"] and rewards[2] == 3.0
    assert stats.failures == {1: "unparsable answer: 'x'"}


def test_a_model_whose_every_text_fails_stops_the_run_in_one_line_and_writes_nothing(project_dir):
    write_rewrites()
    config = config_for(project_dir, {"base_url": "http://127.0.0.1:9/v1", "model": "m", "max_retries": 0})
    done = run_script("score_dataset.py", "--config", str(config), env={"OPENAI_API_KEY": "sk-test"})
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: llm_judge: every one of the 16 texts failed (request failed") and "base_url" in last
    assert not utils.folder("scored").exists() or not list(utils.folder("scored").glob("*.jsonl"))


def test_a_missing_key_names_the_scoring_options_to_set(project_dir, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    write_rewrites()
    done = run_script("score_dataset.py", "--config", str(config_for(project_dir, {"model": "gpt-4o-mini"})))
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert "OPENAI_API_KEY is not set" in last and "scoring.model_options.base_url" in last, last
    assert "rewrites." not in last
