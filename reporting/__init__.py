"""What visualize.py (phase 4) draws and writes: the figures (figures.py), the report (report.py) and the
sample rewrites (samples.py)."""
