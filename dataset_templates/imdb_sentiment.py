"""IMDB reviews, W = positive sentiment (the human label). The attribute judge's rule is a sentiment
classifier (`sentiment_model`, loaded on first use; set it to "" to have no rule, and then
`judge.method: auto` asks the LLM judge instead)."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _imdb, _sentiment, _sources

OPTIONS = {**_imdb.OPTIONS, **_sentiment.OPTIONS}
CHECKS = _sentiment.CHECKS
FIXTURE = {**_imdb.FIXTURE, "sentiment_model": "tiny_sentiment_classifier"}


def build(options: dict) -> DatasetTemplate:
    judge = _sentiment.SentimentJudge(options) if options["sentiment_model"] else None
    return DatasetTemplate(
        name="imdb_sentiment",
        description="IMDB train reviews; W = positive sentiment (label 1).",
        load_rows=lambda: _imdb.rows(options, "imdb_sentiment"),
        n_examples=25000,
        w_strings={"w=1": "positive sentiment", "w=0": "negative sentiment"},
        w_classifier=lambda row: bool(row["label"]) if row["text"].strip() else None,
        get_reward_question=lambda row: _imdb.REWARD_QUESTION,
        get_original_completion=lambda row: row["text"],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_imdb.ORIGINAL_PROMPT if options["original_prompt"] else _imdb.rewrite_prompt("so it has {w_counterfactual_string}"),
        backend="openai_batch",
        classify_text=judge.one if judge else None,
        classify_texts=(lambda texts: judge.with_confidence(texts, desc="judging W (sentiment classifier)")) if judge else None,
        extra={"source": _sources.describe(options)},
    )
