"""The machinery behind score_dataset.py (phase 2): the length-sorted, token-budget batching engine with
checkpoints (engine.py) and sharding with its merge (shards.py)."""
