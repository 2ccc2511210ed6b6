"""`deberta`: OpenAssistant/reward-model-deberta-v3-large-v2, a cross-encoder reward model.

Input: the (question, completion) pair as the tokenizer's two segments; the reward is the single
logit. Pairs longer than 512 tokens are truncated longest-first (counted). Right padding (BERT
family). 435M parameters: a GPU helps, CPU works for small runs.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="deberta", hub_id="OpenAssistant/reward-model-deberta-v3-large-v2", input_format="pair",
                  padding_side="right", description="reward-model-deberta-v3-large-v2 logit (question, answer pair)")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
