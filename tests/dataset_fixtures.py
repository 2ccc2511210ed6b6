"""Local stand-ins for the datasets and models that dataset templates read.

A data-backed template declares `FIXTURE`: the options that point it at stand-ins. Each value names
either a file in tests/fixtures/datasets/ (small JSONL in the real dataset's schema) or a model in
`MODELS`, built here on first use. `fixture_options(module, models_dir)` turns that declaration into
the template's options, so the tests hand fixtures to any template without knowing its name.
"""

from __future__ import annotations

import importlib
from pathlib import Path

DATASETS = Path(__file__).resolve().parent / "fixtures" / "datasets"

# Sentences a sentiment classifier has to tell apart; words the fixtures' replies use are included so
# that the tiny classifier's vocabulary covers them.
POSITIVE = ["good", "great", "love", "wonderful", "happy", "perfect", "enjoy", "delicious", "best", "beautifully"]
NEGATIVE = ["bad", "awful", "hate", "terrible", "sad", "boring", "waste", "lazy", "worst", "hurts"]


def build_tiny_sentiment_classifier(path: Path, swap_labels: bool = False) -> Path:
    """A 1-layer DistilBERT sentiment classifier with a word-level tokenizer, trained for a moment on
    one-word sentiment so that 'good ...' reads POSITIVE and 'bad ...' NEGATIVE. With `swap_labels`
    its label names are listed in the other order (index 0 = POSITIVE)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    vocab = {word: i for i, word in enumerate(special + POSITIVE + NEGATIVE + ["the", "movie", "it", "was"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]",
                                        cls_token="[CLS]", sep_token="[SEP]", model_max_length=128)
    positive_index = 0 if swap_labels else 1
    labels = {positive_index: "POSITIVE", 1 - positive_index: "NEGATIVE"}
    torch.manual_seed(0)
    model = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=len(vocab), dim=16, hidden_dim=32, n_layers=1, n_heads=2, max_position_embeddings=128,
        id2label=labels, label2id={v: k for k, v in labels.items()}))
    texts = [f"the movie was {w}" for w in POSITIVE + NEGATIVE] + POSITIVE + NEGATIVE
    targets = torch.tensor(([positive_index] * len(POSITIVE) + [1 - positive_index] * len(NEGATIVE)) * 2)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        optimizer.zero_grad()
        loss = model(**encoded, labels=targets).loss
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        predicted = model(**encoded).logits.argmax(-1)
    assert bool((predicted == targets).all()), "the tiny sentiment classifier did not learn its training words"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


MODELS = {"tiny_sentiment_classifier": build_tiny_sentiment_classifier}


def resolve(value: str, models_dir: Path) -> str:
    if value in MODELS:
        path = models_dir / value
        if not path.exists():
            MODELS[value](path)
        return str(path)
    path = DATASETS / value
    assert path.exists(), f"FIXTURE names {value!r}, which is neither in {DATASETS} nor a model in MODELS"
    return str(path)


def fixture_options(package: str, name: str, models_dir: Path) -> dict:
    """The template's OPTIONS with its FIXTURE declaration applied (paths resolved)."""
    module = importlib.import_module(f"{package}.{name}")
    options = dict(module.OPTIONS)
    for key, value in getattr(module, "FIXTURE", {}).items():
        assert key in options, f"{name}.FIXTURE sets {key!r}, which is not one of its OPTIONS"
        options[key] = resolve(value, models_dir)
    # settings that go with the stand-ins as they are (the fields a generic template reads from them)
    for key, value in getattr(module, "FIXTURE_OPTIONS", {}).items():
        assert key in options, f"{name}.FIXTURE_OPTIONS sets {key!r}, which is not one of its OPTIONS"
        options[key] = value
    return options


def build_with_fixtures(name: str, models_dir: Path, **overrides):
    module = importlib.import_module(f"dataset_templates.{name}")
    return module.build({**fixture_options("dataset_templates", name, models_dir), **overrides})
