"""The `transformers` rewriter: a local chat model (any causal LM with a chat template, from the HF
hub or a local folder named by `rewrites.model`), batched generation, in this process.

`backend_options.gguf_file` loads GGUF weights instead (a file name inside the `rewrites.model`
folder, or a path): transformers reads the file's config, tokenizer and chat template and
de-quantises it (needs the `gguf` package). One process loads a model once, so a rewriter and an
attribute judge on the same weights share it.

Prompts are sorted by length and generated `batch_size` at a time with left padding. Temperature 0
decodes greedily; above 0 it samples, seeded by `rewrites.seed`. Each request is capped like the
API backends' (rewrites/_engine.py: `rewrites.max_tokens`, else derived from the text), and never
beyond `max_new_tokens`; a generation that reaches its cap without the end-of-sequence token is a
truncation failure, as `finish_reason == "length"` is online. When the judge asks for
log-probabilities, each generated token comes with its `logprobs` top alternatives, as OpenAI's
API gives them. Answers go through the same cache and failure detectors as the API backends (cache
family "transformers").
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from rewriters import RewriteRequest, _pricing
from rewriters._engine import EngineBackend
from utils.schema import AT_LEAST_1, DTYPES

logger = logging.getLogger(__name__)

OPTIONS = {
    "batch_size": 8,
    "max_new_tokens": 1024,
    "device": None,    # None: cuda if available, else cpu
    "dtype": "auto",   # or float32, bfloat16, float16
    "gguf_file": None,  # GGUF weights: a file in the `model` folder, or a path
}
CHECKS = {"batch_size": AT_LEAST_1, "max_new_tokens": AT_LEAST_1, "dtype": DTYPES}

_LOADED: dict = {}  # (model, gguf_file, device, dtype) -> (tokenizer, model, device)


def gguf_location(model: str, gguf_file: Optional[str]) -> tuple[str, Optional[str]]:
    """(folder or hub id, file name) as transformers wants them; a path in `gguf_file` names both."""
    if gguf_file and Path(gguf_file).is_file():
        return str(Path(gguf_file).resolve().parent), Path(gguf_file).name
    return model, gguf_file


def load_model(model: str, gguf_file: Optional[str], device: Optional[str], dtype: str):
    """(tokenizer, model, device), loaded once per process for each set of arguments."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    where = (model, gguf_file, device, dtype)
    if where not in _LOADED:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, file = gguf_location(model, gguf_file)
        extra = {"gguf_file": file} if file else {}
        tokenizer = AutoTokenizer.from_pretrained(folder, **extra)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        loaded = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype if dtype == "auto" else getattr(torch, dtype),
                                                      **extra)
        loaded.to(device).eval()
        logger.info("loaded %s%s on %s", folder, f" ({file})" if file else "", device)
        _LOADED[where] = (tokenizer, loaded, device)
    return _LOADED[where]


class TransformersRewriter(EngineBackend):
    family = "transformers"

    def __init__(self, options: dict, model: str, temperature: float, seed: int, settings: Optional[dict],
                 section: str = "rewrites"):
        super().__init__("transformers", model, temperature, settings, section)
        self.options = options
        self.seed = seed

    def cache_family(self) -> str:
        # Other weights under the same folder name (a GGUF file inside it) are another model.
        return f"transformers:{self.options['gguf_file']}" if self.options["gguf_file"] else self.family

    def price(self, input_tokens: int, output_tokens: int) -> float:
        given = self.settings["price_per_million_tokens"]
        # Local compute has no bill per token, unless one is configured (a GPU's hourly cost, say).
        return _pricing.cost_at(tuple(given), input_tokens, output_tokens, False) if given else 0.0

    def cap(self, request: RewriteRequest) -> int:
        return min(super().cap(request), self.options["max_new_tokens"])

    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable, fail: Callable, bar) -> None:
        import torch

        tokenizer, model, device = load_model(self.model, self.options["gguf_file"], self.options["device"],
                                              self.options["dtype"])
        prompts = [tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
                   for _, request in pending]
        caps = [self.cap(request) for _, request in pending]
        order = sorted(range(len(pending)), key=lambda i: len(prompts[i]))
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
        torch.manual_seed(self.seed)
        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        top = self.settings["logprobs"]
        size = self.options["batch_size"]
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            # The chat template already holds any special tokens; adding them again would double BOS.
            encoded = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
            self.stats["sent"] += len(chunk)
            with torch.no_grad():
                output = model.generate(**encoded, max_new_tokens=max(caps[i] for i in chunk),
                                        pad_token_id=tokenizer.pad_token_id, return_dict_in_generate=True,
                                        output_logits=bool(top), **sampling)
            width = encoded["input_ids"].shape[1]
            for row, i in enumerate(chunk):
                generated = output.sequences[row, width:].tolist()[:caps[i]]
                stop = next((n for n, token in enumerate(generated) if token in eos_ids), None)
                tokens = generated if stop is None else generated[:stop]
                reply = {"text": tokenizer.decode(tokens, skip_special_tokens=True),
                         "finish_reason": "length" if stop is None else "stop", "refusal": None,
                         "usage": {"prompt_tokens": int(encoded["attention_mask"][row].sum()),
                                   "completion_tokens": len(tokens) + (stop is not None)}}
                if top:
                    reply["logprobs"] = self._logprobs(tokenizer, output.logits, row, tokens, top)
                answer(pending[i][0], reply)

    @staticmethod
    def _logprobs(tokenizer, logits, row: int, tokens: list[int], top: int) -> list[dict]:
        """Per generated token: its log-probability and the `top` most likely tokens, from the raw
        logits (before any sampling warpers), in the engine's shape (rewriters/_openai_common.py)."""
        import torch

        out = []
        for position, token in enumerate(tokens):
            scores = torch.log_softmax(logits[position][row].float(), dim=-1)
            values, ids = scores.topk(top)
            out.append({"token": tokenizer.decode([token]), "logprob": float(scores[token]),
                        "top": [[tokenizer.decode([int(t)]), float(v)] for v, t in zip(values, ids)]})
        return out


def build(options: dict, template, model: str, temperature: float, seed: int, settings: Optional[dict] = None,
          section: str = "rewrites"):
    return TransformersRewriter(options, model, temperature, seed, settings, section)
