"""Tiny reward models built from config and saved to a folder, so the real HF template code can be
run offline: a Llama-style sequence classifier with a chat template and a locally trained BPE
tokenizer, the same with remote code returning `.score` (an ArmoRM stand-in), and DistilBERT- and
DeBERTa-style classifiers with a WordPiece tokenizer that encodes question/answer pairs.
Used by tests/test_scoring_*.py and bench/bench_scoring.py. Weights are random but seeded."""

from __future__ import annotations

import json
import random
from pathlib import Path

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "dra", "qu", "ix", "bel", "tor", "an", "em"]
SENTIMENT = ["wonderful", "great", "dull", "awful", "boring", "brilliant", "plot", "acting", "movie", "review"]


def words(seed: int = 0, n: int = 600) -> list[str]:
    rng = random.Random(seed)
    return SENTIMENT + ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n)]


def random_text(rng: random.Random, n_words: int, vocab: list[str]) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n_words)).capitalize() + "."


def _corpus(vocab: list[str]) -> list[str]:
    rng = random.Random(1)
    return [random_text(rng, 30, vocab) for _ in range(400)] + [
        "Write a movie review: The acting was wonderful. The plot was dull and the pacing awful. It has subtitles?"] * 5


def _bpe_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_corpus(words()), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B:1",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")
    fast.chat_template = ("{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>"
                          "{% endfor %}")
    return fast


def llama_rm(path: Path, *, hidden: int = 32, layers: int = 2, heads: int = 4, intermediate: int = 64,
             vocab_size: int = 400, max_positions: int = 128, num_labels: int = 1, chat_template: bool = True,
             seed: int = 0, embedding_rows: int = 0) -> Path:
    """`embedding_rows` pads the embedding table beyond the trained vocabulary, as real models pad
    theirs: parameters that cost memory but no compute."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    tokenizer = _bpe_tokenizer(vocab_size)
    if not chat_template:
        tokenizer.chat_template = None
    config = LlamaConfig(vocab_size=max(len(tokenizer), embedding_rows), hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                         max_position_embeddings=max_positions, num_labels=num_labels,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(config)
    with torch.no_grad():  # random heads give near-zero rewards; spread them so differences show
        model.score.weight.normal_(0, 1.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


ARMO_CODE = '''
from dataclasses import dataclass

import torch
from transformers import LlamaForSequenceClassification
from transformers.utils import ModelOutput


@dataclass
class TinyArmoOutput(ModelOutput):
    score: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None


class TinyArmoRM(LlamaForSequenceClassification):
    """Stands in for ArmoRM's remote code: per-objective rewards in .logits, the reward in .score."""

    def forward(self, input_ids=None, attention_mask=None, **kwargs):
        rewards = super().forward(input_ids=input_ids, attention_mask=attention_mask, **kwargs).logits
        return TinyArmoOutput(score=2 * rewards[:, :1] + rewards[:, 1:2], logits=rewards)
'''


def armo_rm(path: Path) -> Path:
    """A llama_rm with 3 objectives and remote code whose `.score` = 2*logit0 + logit1."""
    llama_rm(path, num_labels=3, seed=3)
    (Path(path) / "modeling_tiny_armo.py").write_text(ARMO_CODE)
    config = json.loads((Path(path) / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "modeling_tiny_armo.TinyArmoRM"}
    (Path(path) / "config.json").write_text(json.dumps(config, indent=2))
    return Path(path)


def _wordpiece_tokenizer(type_ids: bool):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
    tok.train_from_iterator(_corpus(words()), trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
                                                       special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    names = ["input_ids", "token_type_ids", "attention_mask"] if type_ids else ["input_ids", "attention_mask"]
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=64,
                                   model_input_names=names)


def distilbert_rm(path: Path, num_labels: int = 2) -> Path:
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    tokenizer = _wordpiece_tokenizer(type_ids=False)
    config = DistilBertConfig(vocab_size=len(tokenizer), dim=32, hidden_dim=64, n_layers=2, n_heads=4,
                              max_position_embeddings=64, num_labels=num_labels, pad_token_id=tokenizer.pad_token_id,
                              initializer_range=0.3)
    torch.manual_seed(1)
    model = DistilBertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def deberta_rm(path: Path) -> Path:
    import torch
    from transformers import DebertaV2Config, DebertaV2ForSequenceClassification

    tokenizer = _wordpiece_tokenizer(type_ids=True)
    config = DebertaV2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, max_position_embeddings=64, type_vocab_size=2, num_labels=1,
                             pad_token_id=tokenizer.pad_token_id, relative_attention=True, position_buckets=16,
                             pos_att_type=["p2c", "c2p"], initializer_range=0.3)
    torch.manual_seed(2)
    model = DebertaV2ForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)
