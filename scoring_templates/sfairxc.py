"""`sfairxc`: sfairXC/FsfairX-LLaMA3-RM-v0.1, a Llama-3-8B sequence classifier with one logit.

The reward is the raw logit. Input: the tokenizer's chat template over (user: question,
assistant: completion), tokenised without adding a second BOS token (the original code removed the
template's BOS before tokenising; both give the same ids). 8B parameters: about 16 GiB in bfloat16.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="sfairxc", hub_id="sfairXC/FsfairX-LLaMA3-RM-v0.1", input_format="chat",
                  needs_attention_mask=False, description="FsfairX-LLaMA3-RM-v0.1 logit")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
