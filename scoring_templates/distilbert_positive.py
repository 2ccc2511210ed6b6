"""`distilbert_positive`: distilbert-base-uncased-finetuned-sst-2-english, the logit of the
POSITIVE class (index 1) as the reward: the paper's semi-synthetic sentiment reward model.

Input: the completion alone (an SST-2 classifier never saw a question), truncated at 512 tokens
(truncations are counted). BERT-family models need right padding: left padding shifts their
absolute positions and changes scores. 67M parameters: runs on CPU.
"""

from __future__ import annotations

from scoring_templates import _hf

SPEC = _hf.HFSpec(key="distilbert_positive", hub_id="distilbert-base-uncased-finetuned-sst-2-english",
                  input_format="completion", logit_index=1, padding_side="right",
                  description="DistilBERT SST-2 positive-class logit")
# Scores on the CPU in seconds: SLURM scoring jobs ask for no GPU (GPUS=auto).
NEEDS_GPU = False
OPTIONS = _hf.options(SPEC.hub_id)
CHECKS = _hf.CHECKS


def build(options: dict):
    return _hf.build_hf(SPEC, options)
