"""`make audit`: many attributes x many reward models in one run, and one audit card (run_audit.py).

steps.py decides which phases an audit still needs (rewrites per attribute, one scoring per missing
model, the estimates) and with which overrides; card.py reads what the phases wrote and makes the
card: the matrix of effect sizes with family-wise adjusted p-values, the paired contrasts between
models, each attribute's rewrite checks, and where every number came from.
"""
