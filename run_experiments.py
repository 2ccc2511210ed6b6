"""`make experiments`: the RATE paper's ground-truth experiments, and the stress test it describes, as
sweeps over the offline corpus, each point over many seeds; or, with --rewriter-url, each experiment's
one point rewritten by a real model.

Usage:
    python run_experiments.py [--only correlation --only typos] [--smoke] [--replicates 5] [--workers 2]
    python run_experiments.py --rewriter-url http://127.0.0.1:8765/v1 [--only typos] [--rewriter-examples 60]

`--help` says what it writes; the work is experiments/cli.py.
"""

import sys

import utils
from experiments import cli

if __name__ == "__main__":
    sys.exit(utils.run_cli(cli.main))
