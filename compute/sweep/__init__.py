"""Parameter sweeps and walk-forward: spaces → chunks → shared series → metric rows.

``space`` parses and enumerates a strategy's parameter space in chunks; ``evaluate`` runs
one chunk over a batch of symbols in one kernel call (``compute.kernels.sweep``), sharing
each distinct indicator computation; ``walkforward`` plans folds and selects in sample,
evaluates out of sample and stitches the out-of-sample equity. Statistics of a sweep
(deflated Sharpe ratio, probability of backtest overfitting) live in ``compute.stats``.
"""

from compute.sweep.evaluate import METRIC_NAMES, evaluate_chunk, full_windows, supported
from compute.sweep.space import BACKTEST_AXES, Axis, Combos, Space, parse_space

__all__ = [
    "BACKTEST_AXES",
    "METRIC_NAMES",
    "Axis",
    "Combos",
    "Space",
    "evaluate_chunk",
    "full_windows",
    "parse_space",
    "supported",
]
