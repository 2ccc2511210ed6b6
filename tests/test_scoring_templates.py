"""The contract every scoring template meets, found by file name in scoring_templates/.

Hugging Face templates cannot download their real model here, so each is pointed (`path`) at a
tiny model built from config that has the same shape of interface: a chat-template Llama classifier
for chat templates, the same with remote code returning `.score` for templates that read `.score`,
a DeBERTa-style pair classifier for pair templates and a DistilBERT-style one for the rest. The
template code that runs is the code the real model would run."""

from __future__ import annotations

import importlib
import math

import pytest

import scoring_tiny_models as tiny
from scoring.engine import score_pairs
from scoring_templates import RewardModel
from template_contract import build, modules

QUESTIONS = ["Write a movie review: "] * 4 + ["Why is the sky blue?"]
TEXTS = ["The acting was wonderful.", "The plot was dull and the pacing awful.", "It has subtitles.",
         "Brilliant brilliant movie, great acting, great plot!", "Because of Rayleigh scattering."]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Tiny models on disk, keyed by the kind of interface they stand in for."""
    import transformers.dynamic_module_utils as dynamic

    root = tmp_path_factory.mktemp("tiny_rms")
    old = dynamic.HF_MODULES_CACHE
    dynamic.HF_MODULES_CACHE = str(root / "hf_modules")  # remote code is copied here, not into ~/.cache
    yield {"chat": tiny.llama_rm(root / "llama"), "score": tiny.armo_rm(root / "armo"),
           "pair": tiny.deberta_rm(root / "deberta"), "completion": tiny.distilbert_rm(root / "distilbert")}
    dynamic.HF_MODULES_CACHE = old


def stand_in(module, tiny_models) -> dict:
    """The options that point an HF template at the tiny model shaped like its real one."""
    spec = getattr(module, "SPEC", None)
    if spec is None:
        return {}
    kind = "score" if spec.output != "logits" else spec.input_format
    # on CPU (fp32) even where a GPU is present, so the tolerances below hold
    return {"path": str(tiny_models.get(kind, tiny_models["completion"])), "device": "cpu"}


# Templates that score through a server say which kind (`SERVER`); the test starts a stand-in of that
# kind, and its `options` point the template at it. Each entry: kind -> (module, function) of tests/.
SERVER_STAND_INS = {"reward": ("fake_reward_server", "stand_in"), "chat": ("fake_judge", "judge_stand_in")}


@pytest.fixture(scope="module")
def served():
    """`get(kind)` -> the options of a running stand-in server of that kind, started once per module."""
    running, options = [], {}

    def get(kind):
        if kind not in options:
            module, function = SERVER_STAND_INS[kind]
            server, options[kind] = getattr(importlib.import_module(module), function)()
            running.append(server)
        return options[kind]

    yield get
    for server in running:
        server.stop()


@pytest.fixture(scope="module")
def built(tiny_models, served):
    cache = {}

    def get(name):
        if name not in cache:
            module = importlib.import_module(f"scoring_templates.{name}")
            if hasattr(module, "SPEC"):
                cache[name] = module.build({**module.OPTIONS, **stand_in(module, tiny_models)}), module
            elif getattr(module, "SERVER", None):
                cache[name] = module.build({**module.OPTIONS, **served(module.SERVER)}), module
            else:
                cache[name] = build("scoring_templates", name), module
        return cache[name]

    return get


@pytest.mark.parametrize("name", modules("scoring_templates"))
def test_scoring_template_contract(name, built):
    model, module = built(name)
    assert isinstance(model, RewardModel)
    expected_name = f"hf:{model.info['path']}" if name == "hf" else name
    assert model.name == expected_name and model.reward_key
    scores = model.score_batch(QUESTIONS, TEXTS)
    assert len(scores) == len(TEXTS) and all(isinstance(s, float) and math.isfinite(s) for s in scores)
    assert len({round(s, 6) for s in scores}) > 1, "the reward must depend on the text"
    one_by_one = [model.score_batch([q], [t])[0] for q, t in zip(QUESTIONS, TEXTS)]
    assert one_by_one == pytest.approx(scores, abs=1e-4), "a reward must not depend on its batch"
    reversed_scores = model.score_batch(QUESTIONS[::-1], TEXTS[::-1])
    assert reversed_scores == pytest.approx(scores[::-1], abs=1e-4), "rewards come back in the input order"


@pytest.mark.parametrize("name", [n for n in modules("scoring_templates")
                                  if hasattr(importlib.import_module(f"scoring_templates.{n}"), "SPEC")])
def test_tokenising_templates_batch_any_way_and_count_truncations(name, built):
    model, module = built(name)
    assert model.encode is not None and model.score_encoded is not None and model.max_length
    assert model.info["dtype"] == "float32" and model.info["device"] == "cpu"
    reference = model.score_batch(QUESTIONS, TEXTS)
    for max_tokens, max_texts in ((1, 1), (64, 2), (10**6, 3), (10**6, 64)):
        again = score_pairs(model.encode, model.score_encoded, QUESTIONS, TEXTS, max_tokens, max_texts)
        assert again == pytest.approx(reference, abs=1e-4), (max_tokens, max_texts)
    long_text = " ".join(["great acting and a dull plot"] * 200)
    encoded = model.encode(["Write a movie review: ", "Write a movie review: "], [long_text, TEXTS[0]])
    assert encoded[0].truncated and len(encoded[0]) == model.max_length
    assert not encoded[1].truncated and len(encoded[1]) < model.max_length
    assert math.isfinite(model.score_encoded(encoded)[0])
    model_with_key = module.build({**module.OPTIONS, "path": model.info["path"], "device": "cpu",
                                   "reward_key": "my key"})
    assert model_with_key.reward_key == "my key"


def test_trust_remote_code_only_where_a_template_says_so():
    for name in modules("scoring_templates"):
        spec = getattr(importlib.import_module(f"scoring_templates.{name}"), "SPEC", None)
        if spec is not None:
            assert spec.trust_remote_code == (name == "armorm"), name


def test_a_template_that_scores_through_a_server_names_a_kind_the_test_can_stand_in_for():
    for name in modules("scoring_templates"):
        kind = getattr(importlib.import_module(f"scoring_templates.{name}"), "SERVER", None)
        assert kind is None or kind in SERVER_STAND_INS, (name, kind)


def test_every_scoring_template_says_whether_it_needs_a_gpu_and_slurm_asks_for_that():
    import importlib

    from scoring import gpus
    from template_contract import modules

    for name in modules("scoring_templates"):
        assert isinstance(importlib.import_module(f"scoring_templates.{name}").NEEDS_GPU, bool), name
    assert gpus.flags(["vader", "length"], "auto") == ""
    assert gpus.flags(["vader", "armorm"], "auto") == "--gres=gpu:1"
    assert gpus.flags(["hf:/models/x"], "auto") == "--gres=gpu:1"
    assert gpus.flags(["vader"], "2") == "--gres=gpu:2" and gpus.flags(["armorm"], "0") == ""
