"""Orchestration: the only layer that reads configuration and wires compute to storage.

A run flows through these modules in order: ``settings`` builds one validated ``Settings``
from YAML, ``BARPIPE_...`` variables and CLI flags; ``runtime`` prepares quiet offline
Prefect; ``nightly`` (the Prefect flow) plans batches of symbols with ``compute.planner``,
fans them out on the Dask cluster from ``cluster`` (each task loads bars with ``storage``,
runs ``compute.pipeline`` and stages its outputs), then publishes to Parquet and SQLite and
returns a summary. ``cli`` is the ``barpipe`` command that drives all of it, and also writes
synthetic data (``compute.synthetic``) for demos and tests.
"""
