"""The token budget and text cap per forward pass when `scoring.max_batch_tokens` is null.

On CPU a fixed 2,048 tokens (bench/bench_scoring.py: with one thread, 2,048 and 1,024 beat one text
per forward, 4,096 did not). On a GPU the budget follows from the model's size and the device's
memory, so that a small encoder fills an 80 GiB card and an 8B model still fits beside its weights on
a 24 GiB one:

    free      = 0.9 * device_memory - params * dtype_bytes - 1 GiB
    per_token = 2 * (dtype_bytes * (6 * hidden + 3 * intermediate) + 4 * 2 * hidden)
    tokens    = free / per_token, rounded down to a multiple of 1,024, within [1,024, 65,536]
    texts     = tokens / 32, within [64, 4,096]

Why these terms: under `torch.inference_mode` a layer's intermediates are freed as soon as the
next one is computed and no key/value cache is kept (the templates turn `use_cache` off), so the
peak per token is one layer's: the residual stream, its normalised copy, q, k, v, the attention
output and its projection (at most 6 x hidden; k and v are smaller with grouped-query attention),
and the MLP's gate, activation and up projection alive together (3 x intermediate; intermediate
defaults to 4 x hidden when the config has none), plus the float32 copies RMSNorm/LayerNorm make
(2 x hidden x 4 bytes). SDPA/flash attention needs no (width x width) score matrix. The factor 2
covers the allocator's fragmentation and kernels' workspaces; 10 % of the device and 1 GiB are
kept for the CUDA context, cuBLAS and other processes. Above 65,536 tokens the matrix products are
saturated even for small encoders and only memory would grow. The text cap lets texts of 32 tokens
and longer fill the budget; a `scoring.batch_size` the config sets is kept. A model with eager
attention, or a key/value cache (`cache=True`: + 2 x layers x kv_dim x dtype_bytes per token),
needs more: set `scoring.max_batch_tokens` then, or lower it if the first batch runs out of memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)

# When scoring.max_batch_tokens is null and no derivation applies (CPU, or a model the engine
# cannot measure): on CPU small batches of similar length are fastest (bench/bench_scoring.py).
AUTO_BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}
GIB = 2 ** 30
USABLE, RESERVE, SAFETY = 0.9, GIB, 2
MIN_TOKENS, MAX_TOKENS, STEP = 1024, 65536, 1024
TOKENS_PER_TEXT, MIN_TEXTS, MAX_TEXTS = 32, 64, 4096


@dataclass(frozen=True)
class Budget:
    tokens: int
    texts: int
    per_token_bytes: int
    free_bytes: int  # left for activations after the weights and the reserve (negative: none)


def per_token_bytes(hidden: int, dtype_bytes: int, *, intermediate: int | None = None, layers: int = 0,
                    kv_dim: int | None = None, cache: bool = False) -> int:
    intermediate = intermediate or 4 * hidden
    live = dtype_bytes * (6 * hidden + 3 * intermediate) + 4 * 2 * hidden
    if cache:
        live += 2 * layers * (kv_dim or hidden) * dtype_bytes
    return SAFETY * live


def derive(params: int, hidden: int, layers: int, device_memory: int, dtype_bytes: int, *,
           intermediate: int | None = None, kv_dim: int | None = None, cache: bool = False) -> Budget:
    """The budget for a model of `params` parameters of `dtype_bytes` each on a device of
    `device_memory` bytes (the module's docstring gives the formula)."""
    per_token = per_token_bytes(hidden, dtype_bytes, intermediate=intermediate, layers=layers, kv_dim=kv_dim,
                                cache=cache)
    free = int(USABLE * device_memory) - params * dtype_bytes - RESERVE
    tokens = min(max(free // per_token // STEP * STEP, MIN_TOKENS), MAX_TOKENS)
    texts = min(max(tokens // TOKENS_PER_TEXT, MIN_TEXTS), MAX_TEXTS)
    return Budget(tokens=int(tokens), texts=int(texts), per_token_bytes=int(per_token), free_bytes=int(free))


def engine_settings(model, max_tokens: int | None, max_texts: int, *, texts_set: bool = True) -> tuple[int, int]:
    """(token budget, text cap) for `model` (a RewardModel): the configured budget when set, else
    derived on a GPU from the template's scorer (`shape()`, `device_memory()`), else by device.
    `texts_set`: the text cap was set in the config, so a derived one does not replace it, nor the
    texts per call a raw-text model asks for (`texts_per_call`: a served model's requests in flight)."""
    device = ((model.info or {}).get("device") or "cpu").split(":")[0]
    wanted = getattr(model, "texts_per_call", None)
    if wanted and getattr(model, "encode", None) is None:  # raw text: the token budget means nothing, only texts per call
        if texts_set and int(max_texts) < wanted:
            logger.warning("%s: scoring.batch_size=%d gives each call fewer texts than the %d it asks for "
                           "(requests in flight); unset it to let the template choose", model.name, max_texts, wanted)
        return int(max_tokens or AUTO_BATCH_TOKENS["cpu"]), int(max_texts) if texts_set else int(wanted)
    if max_tokens:
        return int(max_tokens), int(max_texts)
    scorer = getattr(model, "scorer", None)
    if device == "cuda" and scorer is not None and hasattr(scorer, "shape") and hasattr(scorer, "device_memory"):
        shape, memory = scorer.shape(), scorer.device_memory()
        if memory and shape.get("hidden") and shape.get("params"):
            budget = derive(shape["params"], shape["hidden"], shape.get("layers") or 0, memory, shape["dtype_bytes"],
                            intermediate=shape.get("intermediate"), kv_dim=shape.get("kv_dim"))
            if budget.free_bytes <= 0:
                logger.warning("%s: the weights leave no room for activations on this device by the estimate; "
                               "using %d tokens per batch", model.name, budget.tokens)
            texts = int(max_texts) if texts_set else budget.texts
            logger.info("%s: %d tokens and %d texts per batch, derived from %.2f B parameters and %.0f GiB "
                        "(%d bytes per token)", model.name, budget.tokens, texts, shape["params"] / 1e9,
                        memory / GIB, budget.per_token_bytes)
            return budget.tokens, texts
    return AUTO_BATCH_TOKENS.get(device, AUTO_BATCH_TOKENS["cpu"]), int(max_texts)
