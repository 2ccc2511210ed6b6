"""`make audit`: many attributes x many reward models in one run, and one audit card.

Usage:
    python run_audit.py --config configs/audits/offline.yaml [--smoke_test=true] [--rewrites.n_examples=300]
    python run_audit.py --config configs/audits/offline.yaml --plan    # the steps it would run, and no more
    python run_audit.py --config configs/audits/paper.yaml --dry-run   # each rewrite step's requests and cost
    python run_audit.py --config configs/audits/offline.yaml --card    # only the card, from the audit's files
    python run_audit.py --config configs/audits/offline.yaml --slurm   # the steps as a chain of SLURM jobs

`--help` says what it writes; the work is audit/cli.py.
"""

import sys

import utils
from audit import cli

if __name__ == "__main__":
    sys.exit(utils.run_cli(cli.main))
