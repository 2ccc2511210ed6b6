"""Anthropic HH-RLHF, W = positive sentiment, as judged by a sentiment classifier (`sentiment_model`,
distilbert-base-uncased-finetuned-sst-2-english by default). Examples are the `rejected` dialogues of
the last `n_rows` rows. `exchange: first` (default) is the original code's experiment: question =
the first human turn, response = the first assistant turn (`_hh_rlhf.original_first_exchange`), and
W is the classifier's verdict on the whole dialogue. `exchange: last`: question = the dialogue before
the last assistant turn, response = that turn, and W the verdict on the response. The classifier
reads every text once, in batches, when the rows are loaded; the judge's rule reads the rewritten
responses with the same classifier. `original_prompt: true` asks with the original's prompt."""

from __future__ import annotations

from dataset_templates import DatasetTemplate, _hh_rlhf, _sentiment, _sources
from utils.schema import AT_LEAST_1, Choice

OPTIONS = {**_hh_rlhf.OPTIONS, "n_rows": 25000, "exchange": "first", **_sentiment.OPTIONS}
CHECKS = {"n_rows": AT_LEAST_1, "exchange": Choice(("first", "last")), **_sentiment.CHECKS}
FIXTURE = {**_hh_rlhf.FIXTURE, "sentiment_model": "tiny_sentiment_classifier"}
REWRITE_PROMPT = (
    "{original_completion}\n\nPlease adjust this response so it has {w_counterfactual_string}, but change *nothing* "
    "else. Only provide the response text, not an acknowledgement of the request, the dialogue or any other context."
)


def build(options: dict) -> DatasetTemplate:
    judge = _sentiment.SentimentJudge(options)
    first = options["exchange"] == "first"
    split = _hh_rlhf.original_first_exchange if first else _hh_rlhf.last_turn

    def load_rows() -> list[dict]:
        rows = _hh_rlhf.examples(options, "hh_rlhf_sentiment", ("rejected",), -options["n_rows"], None)
        responses = [split(row["dialogue"])[1] for row in rows]
        judged = [i for i, text in enumerate(responses) if text]
        # The original read the sentiment of the whole dialogue; the last-turn variant, of the response.
        texts = [rows[i]["dialogue"] if first else responses[i] for i in judged]
        verdicts = judge(texts, desc="classifying W (hh_rlhf_sentiment)")
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
        get_reward_question=lambda row: split(row["dialogue"])[0],
        get_original_completion=lambda row: split(row["dialogue"])[1],
        get_id=lambda row, index: row["id"],
        rewrite_prompt=_hh_rlhf.ORIGINAL_PROMPT if options["original_prompt"] else REWRITE_PROMPT,
        backend="openai_batch",
        classify_text=judge.one,
        classify_texts=lambda texts: judge.with_confidence(texts, desc="judging W (sentiment classifier)"),
        extra={"source": _sources.describe(options)},
    )
