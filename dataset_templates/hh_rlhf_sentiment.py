"""Anthropic HH-RLHF, W = positive sentiment of the reply, as judged by a sentiment classifier
(`sentiment_model`, distilbert-base-uncased-finetuned-sst-2-english by default). Examples are the
`rejected` dialogues of the last `n_rows` rows; question = the dialogue before the last assistant
turn, response = that turn. The classifier reads every response once, in batches, when the rows are
loaded, and judges the rewrites with the same rule."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _hh_rlhf, _sentiment, _sources

OPTIONS = {**_hh_rlhf.OPTIONS, "n_rows": 25000, **_sentiment.OPTIONS}
FIXTURE = {**_hh_rlhf.FIXTURE, "sentiment_model": "tiny_sentiment_classifier"}
REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this response so it has {w_counterfactual_string}, but change *nothing* "
    "else. Only provide the response text, not an acknowledgement of the request, the dialogue or any other context."
)


def build(options: dict) -> DatasetTemplate:
    judge = _sentiment.SentimentJudge(options)

    def load_rows() -> list[dict]:
        rows = _hh_rlhf.examples(options, "hh_rlhf_sentiment", ("rejected",), -options["n_rows"], None)
        responses = [_hh_rlhf.last_turn(row["dialogue"])[1] for row in rows]
        judged = [i for i, text in enumerate(responses) if text]
        verdicts = judge([responses[i] for i in judged], desc="classifying W (hh_rlhf_sentiment)")
        positive = dict(zip(judged, verdicts))
        return [{**row, "positive": positive.get(i)} for i, row in enumerate(rows)]

    return DatasetTemplate(
        name="hh_rlhf_sentiment",
        description=f"HH-RLHF, rejected replies of the last {options['n_rows']} rows; W = positive sentiment "
                    f"by {options['sentiment_model']}.",
        load_rows=load_rows,
        n_examples=options["n_rows"],
        w_strings={"w=1": "positive sentiment", "w=0": "negative sentiment"},
        w_classifier=lambda row: row["positive"],
        get_reward_question=lambda row: _hh_rlhf.last_turn(row["dialogue"])[0],
        get_original_completion=lambda row: _hh_rlhf.last_turn(row["dialogue"])[1],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=REWRITE_PROMPT,
        backend="openai_batch",
        classify_text=judge.one,
        classify_texts=lambda texts: judge.with_confidence(texts, desc="judging W (sentiment classifier)"),
        extra={"source": _sources.describe(options)},
    )
