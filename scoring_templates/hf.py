"""`hf`: any Hugging Face sequence-classification reward model, named in config as
`scoring.model: hf:<local path or hub id>` (the same as `scoring.model: hf` with
`scoring.model_options.path`). Output files use the slug of the value (`hf:org/rm` -> `hf-org-rm`).

Options: `input_format` chat (the tokenizer's chat template; `chat_fallback` when it has none),
pair, completion or plain; `output` logits or an output attribute (e.g. `score`); `logit_index`;
`padding_side` (right is exact for both decoders and BERT-family encoders); `trust_remote_code`
(off unless set); `needs_attention_mask` (set false for a causal decoder padded right: exact, and
faster). The reward key defaults to the path, as in the original RATE code.
"""

from __future__ import annotations

from scoring_templates import _hf
from utils.errors import ConfigError

SPEC = _hf.HFSpec(key="hf", hub_id=None, input_format="chat", description="generic HF sequence classifier")
# Scoring needs a GPU to finish in hours: SLURM scoring jobs ask for one (GPUS=auto).
NEEDS_GPU = True
OPTIONS = _hf.options(None, input_format="chat", chat_fallback="plain", output="logits", logit_index=0,
                      padding_side="right", trust_remote_code=False,
                      needs_attention_mask=True)
CHECKS = {**_hf.CHECKS, **_hf.SPEC_CHOICES}


def build(options: dict):
    if not options["path"]:
        raise ConfigError("scoring.model_options.path", "the 'hf' template needs a path (write scoring.model: hf:<path>)")
    opts = {**options, "reward_key": options["reward_key"] or options["path"]}
    return _hf.build_hf(_hf.spec_from_options(SPEC, options), opts, name=f"hf:{options['path']}")
