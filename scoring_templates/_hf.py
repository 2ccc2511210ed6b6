"""Shared builder of the Hugging Face reward-model templates (not a template itself: the leading
underscore keeps it out of `scoring.model`'s choices).

A template file states what is particular to its model in an `HFSpec` (input format, which output
is the reward, padding side, remote code) and calls `build_hf(SPEC, options)`. torch and
transformers are imported inside the functions, so importing a template stays free.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

from scoring_templates import Encoded, RewardModel
from utils.errors import ConfigError
from utils.schema import AT_LEAST_1, DTYPES, Choice

logger = logging.getLogger(__name__)

# Input formats: how a (question, completion) pair becomes tokens.
#   chat        the tokenizer's chat template over a user and an assistant message, tokenised as
#               `apply_chat_template(tokenize=True)` does (no special tokens added on top)
#   pair        tokenizer(question, completion), a cross-encoder's two segments
#   completion  the completion alone (classifiers that never saw a question)
#   plain       "User: <q>\n\nAssistant: <a>" with the tokenizer's special tokens, a fallback for
#               models without a chat template
FORMATS = ("chat", "pair", "completion", "plain")
PLAIN_FORMAT = "User: {question}\n\nAssistant: {completion}"
# Tokenizers without a real limit report model_max_length as a huge sentinel.
NO_LIMIT = 10**7


@dataclass(frozen=True)
class HFSpec:
    key: str  # template file name: the model's name and default reward key
    hub_id: str | None  # default `path`
    input_format: str
    output: str = "logits"  # "logits", or an attribute of the model output such as "score"
    logit_index: int = 0  # which column of that output is the reward
    padding_side: str = "right"
    trust_remote_code: bool = False
    prefer_flash_attention: bool = False  # used when flash-attn is installed, on a GPU, in 16 bits
    chat_fallback: str = "plain"  # format used when the tokenizer has no chat template
    # A decoder classifier padded on the right needs no attention mask: causal attention keeps real
    # tokens from seeing the padding after them, and pooling finds the last real token by the pad
    # id. Without a mask SDPA can take its causal fast path. Off for encoders and unknown code.
    needs_attention_mask: bool = True
    description: str = ""


def options(path: str | None, **extra) -> dict:
    """The settings every HF template takes (`scoring.model_options`); `null` means "decide":
    device cuda when present, dtype bfloat16 on a GPU and float32 on CPU, attention as transformers
    picks (SDPA where the model supports it), max_length the model's own limit."""
    return {"path": path, "device": None, "dtype": None, "attn_implementation": None, "max_length": None,
            "reward_key": None, **extra}


# Checks of the options every HF template shares (utils/schema.py explains them).
CHECKS = {"max_length": AT_LEAST_1, "dtype": DTYPES}
# The choices of an HFSpec: a template's own SPEC, or the generic template's options (hf.py's CHECKS).
SPEC_CHOICES = {"input_format": Choice(FORMATS), "chat_fallback": Choice(FORMATS),
                "padding_side": Choice(("left", "right"))}


def _error(message: str):
    from utils import RateError

    return RateError(message)


def _device(wanted: str | None) -> str:
    import torch

    if wanted in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return wanted


def _dtype(wanted: str | None, device: str):
    import torch

    # a config's dtype is refused where its options are merged (CHECKS); this is for a template built directly
    DTYPES.check("scoring.model_options.dtype", wanted)
    if wanted in (None, "auto"):
        wanted = "bfloat16" if device.startswith("cuda") else "float32"
    return getattr(torch, wanted)


def _attention(spec: HFSpec, wanted: str | None, device: str, dtype) -> str | None:
    import torch

    if wanted not in (None, "auto"):
        return wanted
    if (spec.prefer_flash_attention and device.startswith("cuda") and dtype in (torch.bfloat16, torch.float16)
            and importlib.util.find_spec("flash_attn") is not None):
        return "flash_attention_2"
    return None  # transformers' default: SDPA where the architecture has it, eager otherwise


def _limit(tokenizer, config) -> int | None:
    limits = [getattr(tokenizer, "model_max_length", None), getattr(config, "max_position_embeddings", None)]
    limits = [int(x) for x in limits if isinstance(x, (int, float)) and 0 < x < NO_LIMIT]
    return min(limits) if limits else None


class _Scorer:
    """Holds one loaded model and tokenizer; `close` drops them so the next model fits."""

    def __init__(self, spec: HFSpec, opts: dict):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.spec = spec
        path = opts["path"] or spec.hub_id
        if not path:
            raise ConfigError("scoring.model_options.path", f"template '{spec.key}' needs a model path or hub id "
                              "(or write scoring.model: hf:<path>)")
        from utils import hub

        # a hub id (not a folder here): ask the hub once, fast, before transformers retries for a minute
        if not Path(path).is_dir() and hub.is_repo_id(path):
            offline = hub.unreachable()
            if offline and not hub.cached_model(path):
                raise _error(f"scoring.model: {spec.key}: cannot load '{path}': the Hugging Face hub is unreachable "
                             f"({offline}) and the model is not in the local cache. Set scoring.model_options.path "
                             f"to a local copy (a folder with config.json), or run where the hub can be reached")
        self.device = _device(opts["device"])
        self.dtype = _dtype(opts["dtype"], self.device)
        kwargs = {"dtype": self.dtype, "trust_remote_code": spec.trust_remote_code}
        attention = _attention(spec, opts["attn_implementation"], self.device, self.dtype)
        if attention:
            kwargs["attn_implementation"] = attention
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
            model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
        except OSError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise _error(f"scoring.model: {spec.key}: cannot load '{path}' ({first[:200]})") from None
        self.model = model.to(self.device).eval()
        self.path = path
        config = model.config
        if getattr(config, "use_cache", False):  # a key/value cache is of no use to one scoring pass
            config.use_cache = False
        labels = getattr(config, "num_labels", 1)
        if spec.output == "logits" and not 0 <= spec.logit_index < labels:
            raise ConfigError("scoring.model_options.logit_index", f"{spec.key}: the model has {labels} logits, "
                              f"no index {spec.logit_index}")
        # Sequence classifiers built on decoders pool at the last token that is not the pad token, so
        # the model must know the pad id; a tokenizer without one pads with its end-of-sequence token.
        pad = getattr(config, "pad_token_id", None)
        if pad is None:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
            if pad is None:
                raise _error(f"scoring.model: {spec.key}: '{path}' defines neither a pad nor an end-of-sequence token")
            logger.info("%s: no pad token in the model config; padding with token id %d", spec.key, pad)
            config.pad_token_id = pad
        self.pad_id = int(pad)
        self.pad_type_id = int(getattr(self.tokenizer, "pad_token_type_id", 0) or 0)
        self.type_ids = "token_type_ids" in getattr(self.tokenizer, "model_input_names", ())
        self.max_length = opts["max_length"] or _limit(self.tokenizer, config)
        fmt = spec.input_format
        if fmt == "chat" and not getattr(self.tokenizer, "chat_template", None):
            logger.warning("%s: '%s' has no chat template; using the '%s' format", spec.key, path, spec.chat_fallback)
            fmt = spec.chat_fallback
        self.format = fmt
        self.attention = getattr(config, "_attn_implementation", None) or attention
        self._torch = torch

    def info(self) -> dict:
        return {"path": self.path, "device": self.device, "dtype": str(self.dtype).replace("torch.", ""),
                "attention": self.attention, "input_format": self.format, "padding_side": self.spec.padding_side,
                "max_length": self.max_length, "pad_token_id": self.pad_id}

    def _tokenize(self, questions: Sequence[str], completions: Sequence[str], truncate: bool) -> dict:
        tok = self.tokenizer
        extra = {"truncation": True, "max_length": self.max_length} if truncate else {}
        extra["return_token_type_ids"] = self.type_ids
        if self.format == "chat":
            texts = [tok.apply_chat_template([{"role": "user", "content": q}, {"role": "assistant", "content": a}],
                                             tokenize=False) for q, a in zip(questions, completions)]
            return tok(texts, add_special_tokens=False, verbose=False, **extra)
        if self.format == "pair":
            return tok(list(questions), list(completions), verbose=False, **extra)
        if self.format == "completion":
            return tok(list(completions), verbose=False, **extra)
        texts = [PLAIN_FORMAT.format(question=q, completion=a) for q, a in zip(questions, completions)]
        return tok(texts, verbose=False, **extra)

    def encode(self, questions: Sequence[str], completions: Sequence[str]) -> list[Encoded]:
        import numpy as np

        full = self._tokenize(questions, completions, truncate=False)
        ids, types = list(full["input_ids"]), list(full.get("token_type_ids") or [None] * len(questions))
        long = [i for i, x in enumerate(ids) if self.max_length and len(x) > self.max_length]
        if long:
            # Re-tokenised rather than cut, so that closing special tokens ([SEP]) survive.
            cut = self._tokenize([questions[i] for i in long], [completions[i] for i in long], truncate=True)
            for j, i in enumerate(long):
                ids[i] = cut["input_ids"][j]
                types[i] = cut["token_type_ids"][j] if self.type_ids else None
        longs = set(long)
        return [Encoded(np.asarray(x, dtype=np.int32), None if t is None else np.asarray(t, dtype=np.int8), i in longs)
                for i, (x, t) in enumerate(zip(ids, types))]

    def collate(self, batch: Sequence[Encoded]) -> dict:
        """The padded host tensors of one forward pass (pinned on a GPU, for an asynchronous copy);
        the engine builds them in its prefetch thread."""
        from scoring.collate import pad_batch

        return pad_batch(batch, self.pad_id, self.spec.padding_side,
                         mask=self.spec.needs_attention_mask or self.spec.padding_side != "right",
                         type_ids=self.type_ids, pad_type_id=self.pad_type_id, pin=self.device.startswith("cuda"))

    def forward(self, inputs: dict):
        """The rewards of one collated batch as a float tensor left on the device: nothing here waits
        for the device, so the engine can queue the next batch (it copies rewards back per chunk)."""
        torch = self._torch
        cuda = self.device.startswith("cuda")
        rows = inputs["input_ids"].shape[0]
        inputs = {key: value.to(self.device, non_blocking=cuda) for key, value in inputs.items()}
        with torch.inference_mode():
            output = self.model(**inputs)
        value = output.logits if self.spec.output == "logits" else getattr(output, self.spec.output, None)
        if value is None:
            raise RuntimeError(f"{self.spec.key}: the model output has no '{self.spec.output}'")
        value = value.float()
        if value.dim() == 2:
            value = value[:, self.spec.logit_index]
        return value.reshape(rows)

    def score_encoded(self, batch: Sequence[Encoded]) -> list[float]:
        return self.forward(self.collate(batch)).cpu().tolist()

    def shape(self) -> dict:
        """The model's size, for the engine's automatic token budget (scoring/budget.py)."""
        config = self.model.config
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = getattr(config, "num_attention_heads", None)
        hidden = getattr(config, "hidden_size", None)
        kv_heads = getattr(config, "num_key_value_heads", None)
        head_dim = getattr(config, "head_dim", None) or (hidden // heads if hidden and heads else None)
        return {"params": sum(p.numel() for p in self.model.parameters()), "hidden": hidden,
                "layers": getattr(config, "num_hidden_layers", None),
                # DistilBERT calls its feed-forward width hidden_dim
                "intermediate": getattr(config, "intermediate_size", None) or getattr(config, "hidden_dim", None),
                "kv_dim": kv_heads * head_dim if kv_heads and head_dim else None, "dtype_bytes": self.dtype.itemsize}

    def device_memory(self) -> int | None:
        if not self.device.startswith("cuda"):
            return None
        return int(self._torch.cuda.get_device_properties(self._torch.device(self.device)).total_memory)

    def score_batch(self, questions: Sequence[str], completions: Sequence[str]) -> list[float]:
        from scoring.engine import score_pairs

        return score_pairs(self.encode, self.score_encoded, questions, completions)

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()


def build_hf(spec: HFSpec, opts: dict, name: str | None = None) -> RewardModel:
    """Load the model `spec` describes with `opts` (a template's OPTIONS merged with the config)."""
    for field, choice in SPEC_CHOICES.items():
        choice.check(f"scoring.model_options.{field}", getattr(spec, field))
    scorer = _Scorer(spec, opts)
    name = name or spec.key
    logger.info("%s loaded from %s: %s", name, scorer.path, scorer.info())
    return RewardModel(name=name, reward_key=opts.get("reward_key") or name, score_batch=scorer.score_batch,
                       description=spec.description, encode=scorer.encode, score_encoded=scorer.score_encoded,
                       max_length=scorer.max_length, info=scorer.info(), close=scorer.close, scorer=scorer)


def spec_from_options(spec: HFSpec, opts: dict) -> HFSpec:
    """`spec` with the fields the generic template lets a config set."""
    fields = {k: opts[k] for k in ("input_format", "output", "logit_index", "padding_side", "trust_remote_code",
                                   "chat_fallback", "needs_attention_mask") if k in opts and opts[k] is not None}
    return replace(spec, **fields)
