"""The four phases of RATE, one module each, with the `main(argv)` its script at the top level calls:

  phases/create_dataset.py     sample, classify W, rewrite twice, judge the rewrites
  phases/score_dataset.py      score every text with one or more reward models
  phases/treatment_effects.py  the efficacy gate, then the naive, single-rewrite and RATE estimates
  phases/visualize.py          the figures and the report

A phase module imports its heavy packages (numpy, scipy, matplotlib, torch) inside the functions
that use them, so that `--help` answers at once.
"""
