"""Phase 1 of RATE: sample examples, classify the attribute W, rewrite each example twice, and judge
whether the rewrites did what was asked.

Usage:
    python create_dataset.py --config config.yaml [--smoke_test=true] [--rewrites.n_examples=500]
    python create_dataset.py --config config.yaml --rewrites.dry_run=true   # requests, tokens, cost; sends nothing

`--help` says what it reads and writes; the work is phases/create_dataset.py.
"""

import sys

import utils
from phases import create_dataset

if __name__ == "__main__":
    sys.exit(utils.run_cli(create_dataset.main))
