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

    simulated = importlib.import_module("rewriters.simulated")
    failing = simulated.build({**simulated.OPTIONS, "failure_rate": 1.0}, template, "m", 0.0, 7)
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


# ---------------------------------------------------------------------------------------------
# The contract of every backend, and the engine's helpers (failure detection, pricing, settings)
# ---------------------------------------------------------------------------------------------

from template_contract import modules  # noqa: E402


@pytest.mark.parametrize("name", modules("rewriters"))
def test_every_backend_builds_from_its_options_with_the_rewrites_section(name, project_dir, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")  # the API backends ask for one when built
    template = build("dataset_templates", "synthetic_sentiment")
    section = utils.load_config(None)["rewrites"]
    module = importlib.import_module(f"rewriters.{name}")
    backend = module.build(dict(module.OPTIONS), template, "gpt-4o", 0.7, 0, dict(section))
    assert callable(backend.rewrite)
    assert not project_dir.exists(), "building a backend must not touch PROJECT_DIR (dry runs, --help)"


def test_pricing_by_prefix_with_the_batch_discount():
    from rewriters import _pricing

    assert _pricing.price_of("gpt-4o-2024-08-06") == _pricing.PRICES["gpt-4o"]
    assert _pricing.price_of("gpt-4o-mini-2024-07-18") == _pricing.PRICES["gpt-4o-mini"]
    assert _pricing.price_of("my-local-llama") is None and _pricing.cost("my-local-llama", 10, 10, False) is None
    online = _pricing.cost("gpt-4o-2024-08-06", 1_000_000, 1_000_000, batch=False)
    assert online == pytest.approx(sum(_pricing.PRICES["gpt-4o"]))
    assert _pricing.cost("gpt-4o-2024-08-06", 1_000_000, 1_000_000, batch=True) == pytest.approx(online / 2)
    assert _pricing.estimate_tokens("a" * 9) == 3


@pytest.mark.parametrize("key, value", [("max_concurrency", 0), ("max_retries", -1), ("timeout", 0.0),
                                        ("max_tokens", 0), ("poll_interval", -1.0)])
def test_engine_settings_are_checked(key, value):
    from rewriters._engine import engine_settings

    with pytest.raises(utils.RateError, match=f"rewrites.{key}"):
        engine_settings({key: value})
    assert engine_settings({})["max_concurrency"] == utils.SCHEMA["rewrites"]["max_concurrency"][0]


def test_engine_defaults_match_the_schema():
    from rewriters._engine import DEFAULT_SETTINGS

    # `logprobs` is the judge's alone (judge.logprobs); every other engine key is a rewrites key.
    assert DEFAULT_SETTINGS == {**{key: utils.SCHEMA["rewrites"][key][0] for key in DEFAULT_SETTINGS
                                   if key != "logprobs"}, "logprobs": 0}
