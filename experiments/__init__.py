"""make experiments: sweeps of the four phases over the offline corpus, each point over many seeds (run_experiments.py)."""
