"""The `transformers` rewriter: a local chat model (any causal LM with a chat template, from the HF
hub or a local folder named by `rewrites.model`), batched generation.

Prompts are sorted by length and generated `batch_size` at a time with left padding. Temperature 0
decodes greedily; above 0 it samples, seeded by `rewrites.seed`. A generation that stops without the
end-of-sequence token used up `rewrites.max_tokens` (else `max_new_tokens`) and is a truncation
failure, as `finish_reason == "length"` is online. Answers go through the same cache and failure
detectors as the API backends (cache family "transformers").
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from rewriters import RewriteRequest
from rewriters._engine import EngineBackend

logger = logging.getLogger(__name__)

OPTIONS = {
    "batch_size": 8,
    "max_new_tokens": 1024,
    "device": None,   # None: cuda if available, else cpu
    "dtype": "auto",  # or float32, bfloat16, float16
}


class TransformersRewriter(EngineBackend):
    family = "transformers"

    def __init__(self, options: dict, model: str, temperature: float, seed: int, settings: Optional[dict]):
        super().__init__("transformers", model, temperature, settings)
        self.options = options
        self.seed = seed
        self.loaded = None

    def price(self, input_tokens: int, output_tokens: int) -> float:
        return 0.0  # local compute: no bill per token

    @property
    def max_new_tokens(self) -> int:
        return self.settings["max_tokens"] or self.options["max_new_tokens"]

    def _load(self):
        if self.loaded is None:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            device = self.options["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
            dtype = self.options["dtype"]
            tokenizer = AutoTokenizer.from_pretrained(self.model)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = AutoModelForCausalLM.from_pretrained(self.model, dtype=dtype if dtype == "auto" else getattr(torch, dtype))
            model.to(device).eval()
            self.loaded = (tokenizer, model, device)
        return self.loaded

    def send(self, pending: list[tuple[str, RewriteRequest]], answer: Callable, fail: Callable, bar) -> None:
        import torch

        tokenizer, model, device = self._load()
        prompts = [tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
                   for _, request in pending]
        order = sorted(range(len(pending)), key=lambda i: len(prompts[i]))
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else tokenizer.eos_token_id])
        torch.manual_seed(self.seed)
        sampling = {"do_sample": True, "temperature": self.temperature} if self.temperature > 0 else {"do_sample": False}
        size = self.options["batch_size"]
        for start in range(0, len(order), size):
            chunk = order[start:start + size]
            # The chat template already holds any special tokens; adding them again would double BOS.
            encoded = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True,
                                add_special_tokens=False).to(device)
            self.stats["sent"] += len(chunk)
            with torch.no_grad():
                output = model.generate(**encoded, max_new_tokens=self.max_new_tokens,
                                        pad_token_id=tokenizer.pad_token_id, **sampling)
            width = encoded["input_ids"].shape[1]
            for row, i in enumerate(chunk):
                generated = output[row, width:].tolist()
                stop = next((n for n, token in enumerate(generated) if token in eos_ids), None)
                tokens = generated if stop is None else generated[:stop]
                answer(pending[i][0], {
                    "text": tokenizer.decode(tokens, skip_special_tokens=True),
                    "finish_reason": "length" if stop is None else "stop",
                    "refusal": None,
                    "usage": {"prompt_tokens": int(encoded["attention_mask"][row].sum()),
                              "completion_tokens": len(tokens) + (stop is not None)},
                })


def build(options: dict, template, model: str, temperature: float, seed: int, settings: Optional[dict] = None):
    return TransformersRewriter(options, model, temperature, seed, settings)
