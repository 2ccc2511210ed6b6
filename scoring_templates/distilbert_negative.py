"""`distilbert_negative`: distilbert-base-uncased-finetuned-sst-2-english, the logit of the
NEGATIVE class (index 0) as the reward.

Input: the completion alone, truncated at 512 tokens; right padding (BERT family). Runs on CPU.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="distilbert_negative", hub_id="distilbert-base-uncased-finetuned-sst-2-english",
                  input_format="completion", logit_index=0, padding_side="right",
                  description="DistilBERT SST-2 negative-class logit")
# Scores on the CPU in seconds: SLURM scoring jobs ask for no GPU (GPUS=auto).
NEEDS_GPU = False
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
