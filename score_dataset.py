"""Phase 2 of RATE: score every completion of every example with one or more reward models.

Usage:
    python score_dataset.py --config config.yaml [--scoring.model=vader | --scoring.models=[a,b]] [--shard=i/N]
    python score_dataset.py --config config.yaml --merge

`--help` says what it reads and writes; the work is phases/score_dataset.py.
"""

import sys

import utils
from phases import score_dataset

if __name__ == "__main__":
    sys.exit(utils.run_cli(score_dataset.main))
