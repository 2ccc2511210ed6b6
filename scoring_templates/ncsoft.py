"""`ncsoft`: NCSOFT/Llama-3-OffsetBias-RM-8B, a Llama-3-8B sequence classifier trained against
offset biases (length, concreteness…).

The reward is the raw logit. Input: the tokenizer's chat template over (user: question,
assistant: completion), without a doubled BOS token. 8B parameters: about 16 GiB in bfloat16.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="ncsoft", hub_id="NCSOFT/Llama-3-OffsetBias-RM-8B", input_format="chat",
                  needs_attention_mask=False, description="Llama-3-OffsetBias-RM-8B logit")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
