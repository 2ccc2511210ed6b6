"""Phase 3 of RATE: the naive, single-rewrite and RATE estimates of W's effect on the reward, with
standard errors, confidence intervals, p-values, effect sizes and diagnostics.

Usage:
    python treatment_effects.py --config config.yaml [--effects.reward_key=vader] [--effects.bootstrap_resamples=2000]

`--help` says what it reads and writes; the work is phases/treatment_effects.py.
"""

import sys

import utils
from phases import treatment_effects

if __name__ == "__main__":
    sys.exit(utils.run_cli(treatment_effects.main))
