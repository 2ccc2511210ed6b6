"""What each Hugging Face template feeds its model and which output it reads, checked against the
model called directly with transformers, one text at a time, on tiny local models."""

from __future__ import annotations

import pytest

import scoring_tiny_models as tiny
import utils
from scoring_templates import _hf, armorm, deberta, distilbert_negative, distilbert_positive, hf, sfairxc

Q, A = "Write a movie review: ", "The acting was wonderful, the plot dull."
TEXTS = ["The acting was wonderful.", "The plot was dull and the pacing awful, boring boring.", "It has subtitles.", "x"]


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    import transformers.dynamic_module_utils as dynamic

    root = tmp_path_factory.mktemp("tiny_hf")
    old = dynamic.HF_MODULES_CACHE
    dynamic.HF_MODULES_CACHE = str(root / "hf_modules")
    yield {"llama": tiny.llama_rm(root / "llama"), "armo": tiny.armo_rm(root / "armo"),
           "plain": tiny.llama_rm(root / "plain", chat_template=False),
           "distilbert": tiny.distilbert_rm(root / "distilbert"), "deberta": tiny.deberta_rm(root / "deberta")}
    dynamic.HF_MODULES_CACHE = old


def direct(path, encoding_fn, cls_name="AutoModelForSequenceClassification"):
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    model = getattr(transformers, cls_name).from_pretrained(path).eval()
    inputs = encoding_fn(tokenizer)
    with torch.no_grad():
        return model(**{k: torch.tensor([v]) for k, v in inputs.items()}).logits[0]


def messages(q, a):
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def test_chat_templates_tokenise_like_apply_chat_template_and_read_the_logit(paths):
    model = sfairxc.build({**sfairxc.OPTIONS, "device": "cpu", "path": str(paths["llama"])})
    ids = model.encode([Q], [A])[0].input_ids.tolist()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(paths["llama"])
    expected = tokenizer.apply_chat_template(messages(Q, A), tokenize=True, return_dict=False)
    assert ids == list(expected) and ids.count(tokenizer.bos_token_id) == 1, "one BOS, as the model card tokenises"
    logits = direct(paths["llama"], lambda t: {"input_ids": expected})
    assert model.score_batch([Q], [A])[0] == pytest.approx(float(logits[0]), abs=1e-5)


def test_armorm_reads_score_from_its_remote_code_not_the_logits(paths):
    model = armorm.build({**armorm.OPTIONS, "device": "cpu", "path": str(paths["armo"])})
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(paths["armo"]).apply_chat_template(messages(Q, A), tokenize=True,
                                                                           return_dict=False)
    # the plain Llama class ignores the remote code: its logits are the per-objective rewards
    rewards = direct(paths["armo"], lambda t: {"input_ids": ids}, "LlamaForSequenceClassification")
    reward = model.score_batch([Q], [A])[0]
    assert reward == pytest.approx(float(2 * rewards[0] + rewards[1]), abs=1e-5)
    assert reward != pytest.approx(float(rewards[0]), abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("module, index", [(distilbert_positive, 1), (distilbert_negative, 0)])
def test_distilbert_templates_read_their_class_logit_of_the_completion_alone(paths, module, index):
    model = module.build({**module.OPTIONS, "device": "cpu", "path": str(paths["distilbert"])})
    logits = direct(paths["distilbert"], lambda t: dict(t(A)))
    assert model.score_batch([Q], [A])[0] == pytest.approx(float(logits[index]), abs=1e-5)
    assert model.score_batch(["another question"], [A])[0] == pytest.approx(float(logits[index]), abs=1e-5)


@pytest.mark.slow
def test_deberta_scores_the_question_answer_pair_with_segment_ids(paths):
    model = deberta.build({**deberta.OPTIONS, "device": "cpu", "path": str(paths["deberta"])})
    encoded = model.encode([Q], [A])[0]
    assert encoded.token_type_ids is not None and set(encoded.token_type_ids.tolist()) == {0, 1}
    logits = direct(paths["deberta"], lambda t: dict(t(Q, A)))
    assert model.score_batch([Q], [A])[0] == pytest.approx(float(logits[0]), abs=1e-5)
    assert model.score_batch(["Why?"], [A])[0] != pytest.approx(float(logits[0]), abs=1e-4), "the question counts"


@pytest.mark.parametrize("kind, options", [("distilbert", {"input_format": "completion"}),
                                           ("deberta", {"input_format": "pair"})])
def test_left_padding_would_change_bert_scores_so_templates_pad_right(paths, kind, options):
    """Why the padding side is the template's business: the same texts, scored alone and in one
    batch, agree when padded right and disagree when padded left."""
    gaps = {}
    for side in ("right", "left"):
        model = hf.build({**hf.OPTIONS, "device": "cpu", "path": str(paths[kind]), "padding_side": side, **options})
        batch = model.score_batch([Q] * len(TEXTS), TEXTS)
        alone = [model.score_batch([Q], [t])[0] for t in TEXTS]
        gaps[side] = max(abs(a - b) for a, b in zip(batch, alone))
    assert gaps["right"] <= 1e-4 < gaps["left"]


def test_generic_template_names_itself_after_the_path_and_falls_back_without_a_chat_template(paths, caplog):
    model = hf.build({**hf.OPTIONS, "device": "cpu", "path": str(paths["plain"])})
    assert model.name == f"hf:{paths['plain']}" and model.reward_key == str(paths["plain"])
    assert model.info["input_format"] == "plain" and "no chat template" in caplog.text
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(paths["plain"])
    expected = tokenizer(_hf.PLAIN_FORMAT.format(question=Q, completion=A))["input_ids"]
    assert model.encode([Q], [A])[0].input_ids.tolist() == list(expected)
    assert utils.slug(model.name).startswith("hf-")


def test_generic_template_errors_name_the_key(paths, tmp_path):
    with pytest.raises(utils.RateError, match="scoring.model_options.path"):
        hf.build(dict(hf.OPTIONS))
    with pytest.raises(utils.RateError, match="cannot load"):
        hf.build({**hf.OPTIONS, "path": str(tmp_path / "no_model_here")})
    with pytest.raises(utils.RateError, match="logit_index"):
        hf.build({**hf.OPTIONS, "device": "cpu", "path": str(paths["llama"]), "logit_index": 3})
    with pytest.raises(utils.RateError, match="dtype"):
        hf.build({**hf.OPTIONS, "device": "cpu", "path": str(paths["llama"]), "dtype": "float8"})


def test_decoder_templates_leave_out_the_mask_with_right_padding_and_lose_nothing(paths):
    """sfairxc-style templates skip the attention mask (causal attention never looks right); the
    generic template keeps it. Batched rewards agree."""
    masked = hf.build({**hf.OPTIONS, "device": "cpu", "path": str(paths["llama"])})
    unmasked = sfairxc.build({**sfairxc.OPTIONS, "device": "cpu", "path": str(paths["llama"])})
    assert sfairxc.SPEC.needs_attention_mask is False and hf.OPTIONS["needs_attention_mask"] is True
    batch = masked.encode([Q] * len(TEXTS), TEXTS)
    assert len({len(e) for e in batch}) > 1, "the batch needs padding for this test to mean anything"
    assert unmasked.score_encoded(batch) == pytest.approx(masked.score_encoded(batch), abs=1e-5)
