"""`armorm`: RLHFlow/ArmoRM-Llama3-8B-v0.1, a mixture-of-experts reward model over 19 objectives.

Its own modelling code (trust_remote_code) returns `.score`, the gated preference score, which is the
reward; `.logits` hold the per-objective rewards and are not used. Input: the tokenizer's chat
template over (user: question, assistant: completion). Its pooling finds the first pad token, so it
needs right padding. 8B parameters: about 16 GiB in bfloat16 on a GPU.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="armorm", hub_id="RLHFlow/ArmoRM-Llama3-8B-v0.1", input_format="chat", output="score",
                  padding_side="right", trust_remote_code=True,
                  description="ArmoRM-Llama3-8B-v0.1 gated preference score (.score)")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
