"""Rewriter backends: the simulated backend's determinism and failure records."""

from __future__ import annotations

import importlib
import random

import pytest

import utils
from dataset_templates import DatasetTemplate
from rewriters import RewriteRequest
from template_contract import build


def test_simulated_backend_is_order_independent_and_records_failures():
    template = build("dataset_templates", "synthetic_sentiment")
    rows = template.load_rows()[:40]
    requests = [RewriteRequest(f"{r['id']}:rewrite", "", r["text"], not r["label"]) for r in rows]
    backend = build("rewriters", "simulated", template, "simulated", 0.0, 7)
    forward = backend.rewrite(requests)
    backward = backend.rewrite(list(reversed(requests)))
    assert {k: v.text for k, v in forward.items()} == {k: v.text for k, v in backward.items()}
    assert all(result.ok and result.failure is None for result in forward.values())

    failing = importlib.import_module("rewriters.simulated").build({"failure_rate": 1.0}, template, "m", 0.0, 7)
    results = failing.rewrite(requests)
    assert all(result.text is None and result.failure == "simulated failure" for result in results.values())


def test_simulated_backend_refuses_a_template_it_cannot_rewrite():
    template = build("dataset_templates", "synthetic_sentiment")
    plain = DatasetTemplate(**{**template.__dict__, "simulate_rewrite": None})
    with pytest.raises(utils.RateError, match="defines no simulate_rewrite"):
        build("rewriters", "simulated", plain, "m", 0.0, 0)


def test_same_seed_same_rewrite_different_seed_different_rewrite():
    template = build("dataset_templates", "synthetic_sentiment")
    rows = template.load_rows()[:60]
    requests = [RewriteRequest(r["id"], "", r["text"], not r["label"]) for r in rows]
    a = build("rewriters", "simulated", template, "m", 0.0, 1).rewrite(requests)
    b = build("rewriters", "simulated", template, "m", 0.0, 1).rewrite(requests)
    c = build("rewriters", "simulated", template, "m", 0.0, 2).rewrite(requests)
    assert {k: v.text for k, v in a.items()} == {k: v.text for k, v in b.items()}
    assert {k: v.text for k, v in a.items()} != {k: v.text for k, v in c.items()}
    assert random.Random("1:x").random() == random.Random("1:x").random()
