"""The `transformers` backend with a tiny causal LM built here from a config (random weights, a BPE
tokenizer trained on a few sentences, a chat template): batched generation, finish reasons, the
cache. What it writes is gibberish; only the plumbing is under test."""

from __future__ import annotations

import pytest

from rewriters import RewriteRequest
from template_contract import build

CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def tiny_chat_model(path):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["please rewrite this movie review with positive sentiment", "the acting was wonderful and dull",
              "a short text to rewrite", "negative sentiment and nothing else"] * 20
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<unk>", "<pad>", "<|end|>", "<|user|>", "<|assistant|>"]
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    from tokenizers import decoders

    tokenizer.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<|end|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(path)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(path)
    return fast


def requests_(n: int) -> list[RewriteRequest]:
    texts = ["a short text", "the acting was wonderful and the story was dull and long", "negative"]
    return [RewriteRequest(f"ex{i}:rewrite", f"please rewrite this: {texts[i % 3]} {i}", texts[i % 3], bool(i % 2))
            for i in range(n)]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_chat_lm")
    tiny_chat_model(path)
    return path


def test_batched_generation_answers_every_request_and_marks_truncation(model_dir, project_dir, monkeypatch):
    rewriter = build("rewriters", "transformers", None, str(model_dir), 0.0, 0, {"max_tokens": 6})
    rewriter.options["batch_size"] = 4
    results = rewriter.rewrite(requests_(7))
    assert set(results) == {r.custom_id for r in requests_(7)}
    for result in results.values():
        # A random model rarely stops by itself: each answer is a rewrite or a recorded failure.
        assert (result.text is not None) != (result.failure is not None)
        if result.finish_reason == "length":
            assert result.failure == "truncated (finish_reason=length)" and result.usage["completion_tokens"] == 6
    assert any(r.finish_reason == "length" for r in results.values())
    assert rewriter.stats["sent"] == 7
    # Greedy decoding is deterministic, batching and padding included: one prompt alone gives the same.
    alone = build("rewriters", "transformers", None, str(model_dir), 0.0, 0, {"max_tokens": 6, "cache": False})
    single = alone.rewrite(requests_(7)[5:6])["ex5:rewrite"]
    assert single.usage == results["ex5:rewrite"].usage and single.finish_reason == results["ex5:rewrite"].finish_reason

    def no_loading(*args):
        raise AssertionError("a fully cached run loaded the model")

    monkeypatch.setattr("rewriters.transformers.load_model", no_loading)
    again = build("rewriters", "transformers", None, str(model_dir), 0.0, 0, {"max_tokens": 6})
    cached = again.rewrite(requests_(7))
    assert all(r.cached for r in cached.values()) and again.stats["sent"] == 0


def test_a_generation_that_ends_with_eos_is_a_stop(tmp_path, project_dir):
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = tiny_chat_model(tmp_path)
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assistant = tokenizer.convert_tokens_to_ids("<|assistant|>")
    with torch.no_grad():
        # Layers add nothing to the residual stream, so the last hidden state is the embedding of
        # the prompt's last token, "<|assistant|>"; only the end-of-sequence logit is non-zero
        # (and positive) there: the model stops at once.
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.model.norm.weight.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[tokenizer.eos_token_id] = model.model.embed_tokens.weight[assistant]
    model.save_pretrained(tmp_path)
    rewriter = build("rewriters", "transformers", None, str(tmp_path), 0.0, 0, {"max_tokens": 6, "cache": False})
    results = rewriter.rewrite(requests_(3))
    assert all(r.finish_reason == "stop" for r in results.values())
    # The model said nothing before stopping: an empty completion is a refusal, never stored as text.
    assert all(r.text is None and r.failure == "refusal: empty completion" for r in results.values())
