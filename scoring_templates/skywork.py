"""`skywork`: Skywork/Skywork-Reward-Llama-3.1-8B-v0.2, a Llama-3.1-8B sequence classifier.

The reward is the raw logit. Input: the tokenizer's chat template over (user: question,
assistant: completion). Its model card runs it with flash-attention-2, which is used when the
`flash-attn` package is installed and the model runs in 16 bits on a GPU (SDPA otherwise).
Llama 3.1 accepts 128k tokens, so nothing is truncated in practice; the token budget
(`scoring.max_batch_tokens`) bounds memory.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="skywork", hub_id="Skywork/Skywork-Reward-Llama-3.1-8B-v0.2", input_format="chat",
                  needs_attention_mask=False, prefer_flash_attention=True,
                  description="Skywork-Reward-Llama-3.1-8B-v0.2 logit")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
