"""Phase 4 of RATE: the figures and the report a researcher puts in a paper.

Usage:
    python visualize.py --config config.yaml [--visualize.effects_filename=latest] [--visualize.raw=true]
    python visualize.py --config config.yaml --visualize.effects_filename='[a.json, b.json]'

`--help` says what it reads and writes; the work is phases/visualize.py.
"""

import sys

import utils
from phases import visualize

if __name__ == "__main__":
    sys.exit(utils.run_cli(visualize.main))
