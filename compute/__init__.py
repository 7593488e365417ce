"""Pure computation for barpipe: numba kernels and the registries that name them.

Data flows one way through this package: float64 arrays (one symbol, or a batch of symbols
concatenated with an ``offsets`` array) go into the indicator kernels (``compute.kernels``,
named through ``compute.indicators``), their outputs feed the strategies
(``compute.strategies``) that produce a target position per bar, the backtest
(``compute.backtest``) turns targets into trades and an equity curve, and ``compute.metrics``
summarises returns and trades. Nothing here reads files, config, Prefect or Dask.
"""
