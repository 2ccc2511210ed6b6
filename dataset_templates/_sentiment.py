"""A sentiment classifier as a W judge: a Hugging Face sequence classifier, loaded on first use.

The paper's hh_rlhf_sentiment experiment takes W from distilbert-base-uncased-finetuned-sst-2-english;
the same judge checks whether a sentiment rewrite really flipped W. The positive class is found by
its label name in the model's config, never by position, so a model with its labels in another order
is read correctly.
"""

from __future__ import annotations

import logging
from typing import Optional

from tqdm import tqdm

from utils import RateError
from utils.schema import AT_LEAST_1

logger = logging.getLogger(__name__)

DEFAULT_SENTIMENT_MODEL = "distilbert-base-uncased-finetuned-sst-2-english"
OPTIONS = {
    "sentiment_model": DEFAULT_SENTIMENT_MODEL,
    "sentiment_positive_label": "POSITIVE",
    "sentiment_batch_size": 32,
    "sentiment_max_length": 512,
    "sentiment_device": "auto",
}
KEY = "rewrites.template_options"
CHECKS = {"sentiment_batch_size": AT_LEAST_1, "sentiment_max_length": AT_LEAST_1}


class SentimentJudge:
    """`judge(texts)` -> one bool per text: is the positive class the classifier's top class;
    `with_confidence(texts)` -> (that bool, the softmax probability of the top class) per text."""

    def __init__(self, options: dict):
        self.options = options
        self._model = self._tokenizer = self._positive = self._device = self._max_length = None

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = self.options["sentiment_model"]
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForSequenceClassification.from_pretrained(path)
        except OSError as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise RateError(f"{KEY}.sentiment_model: cannot load {path!r} ({first_line})") from None
        wanted = self.options["sentiment_positive_label"].lower()
        matches = [int(i) for i, label in model.config.id2label.items() if str(label).lower() == wanted]
        if len(matches) != 1:
            raise RateError(f"{KEY}.sentiment_positive_label: {wanted!r} is not one of the labels of {path!r} "
                            f"({sorted(model.config.id2label.values())})")
        self._positive = matches[0]
        # Never longer than the model's position table, whatever the option says.
        limits = [self.options["sentiment_max_length"], getattr(model.config, "max_position_embeddings", None),
                  getattr(self._tokenizer, "model_max_length", None)]
        self._max_length = min(int(n) for n in limits if n)
        device = self.options["sentiment_device"]
        self._device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        self._model = model.to(self._device).eval()
        logger.info("sentiment judge %s loaded on %s (positive class %d)", path, self._device, self._positive)

    def __call__(self, texts: list[str], desc: Optional[str] = None) -> list[bool]:
        return [w for w, _ in self.with_confidence(texts, desc)]

    def with_confidence(self, texts: list[str], desc: Optional[str] = None) -> list[tuple[bool, float]]:
        if self._model is None:
            self._load()
        import torch

        # Length-sorted batches waste little on padding; results go back in the callers' order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        size = self.options["sentiment_batch_size"]
        verdicts: list = [None] * len(texts)
        batches = [order[i:i + size] for i in range(0, len(order), size)]
        for batch in tqdm(batches, desc=desc or "judging sentiment", unit="batch", disable=len(batches) < 2):
            encoded = self._tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                      max_length=self._max_length, return_tensors="pt")
            with torch.no_grad():
                logits = self._model(**{k: v.to(self._device) for k, v in encoded.items()}).logits
            probabilities = torch.softmax(logits.float(), dim=-1)
            for i, top, p in zip(batch, logits.argmax(dim=-1).tolist(), probabilities.max(dim=-1).values.tolist()):
                verdicts[i] = (top == self._positive, p)
        return verdicts

    def one(self, text: str) -> bool:
        return self([text])[0]
