"""The numerics and inputs behind treatment_effects.py (phase 3): estimates, standard errors, intervals,
diagnostics (stats.py), the bootstrap (bootstrap.py), and which files and reward keys to read (inputs.py)."""
