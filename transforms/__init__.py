"""Pure polars transforms: parse landed payloads, normalise, deduplicate, classify.

Nothing in this package performs I/O beyond reading its own packaged data files,
imports Prefect, or reads the environment.
"""
