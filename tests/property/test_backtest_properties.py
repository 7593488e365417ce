"""Properties of the backtest on random bars, targets and parameters.

- batching: ``simulate_batch`` equals ``simulate`` on each segment;
- causality: changing bars and targets from bar t on never changes equity before t nor
  trades that exited before t;
- accounting: the last equity equals the initial cash plus every trade's net P&L.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compute.backtest import simulate, simulate_batch
from tests.datasets import from_close

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

params_st = st.fixed_dictionaries(
    {
        "fees_bps": st.sampled_from([0.0, 5.0, 25.0]),
        "slippage_bps": st.sampled_from([0.0, 3.0]),
        "fraction": st.sampled_from([1.0, 0.5]),
        "direction": st.sampled_from(["long_only", "long_short"]),
        "sizing": st.sampled_from(["fixed", "kelly"]),
        "stop_loss": st.sampled_from([None, 0.02, 0.1]),
        "take_profit": st.sampled_from([None, 0.03, 0.5]),
    }
)


def _series(seed: int, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    bars = from_close(close, seed)
    target = rng.choice([-1.0, 0.0, 1.0, np.nan], n, p=[0.3, 0.2, 0.4, 0.1])
    # runs of equal targets, as real strategies produce
    target = np.repeat(target, 3)[:n] if n else target
    return bars, target


def _run(bars, target, **params):
    return simulate(bars["open"], bars["high"], bars["low"], bars["close"], target, **params)


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 10_000),
    lengths=st.lists(st.integers(0, 80), min_size=1, max_size=6),
    params=params_st,
)
def test_batch_equals_each_segment(seed, lengths, params):
    parts = [_series(seed + i, n) for i, n in enumerate(lengths)]
    cat = {f: np.concatenate([p[0][f] for p in parts]) for f in ("open", "high", "low", "close")}
    target = np.concatenate([p[1] for p in parts])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    batch = simulate_batch(
        cat["open"], cat["high"], cat["low"], cat["close"], target, offsets, **params
    )
    for i, (bars, tgt) in enumerate(parts):
        single = _run(bars, tgt, **params)
        np.testing.assert_array_equal(
            batch.equity[offsets[i] : offsets[i + 1]], single.equity, err_msg=f"segment {i}"
        )
        mask = batch.trades["segment"] == i
        for name, values in single.trades.items():
            np.testing.assert_array_equal(
                batch.trades[name][mask], values, err_msg=f"segment {i}, {name}"
            )


@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 150),
    cut_at=st.floats(0, 1),
    params=params_st,
)
def test_future_bars_never_change_the_past(seed, n, cut_at, params):
    bars, target = _series(seed, n)
    cut = int(cut_at * (n - 1))
    other, other_target = _series(seed + 1, n)
    changed = {f: np.concatenate([v[:cut], other[f][cut:] * 1.1]) for f, v in bars.items()}
    changed_target = np.concatenate([target[:cut], other_target[cut:]])
    a = _run(bars, target, **params)
    b = _run(changed, changed_target, **params)
    np.testing.assert_array_equal(a.equity[:cut], b.equity[:cut])
    done_a = a.trades["exit_index"] < cut
    done_b = b.trades["exit_index"] < cut
    done_a &= a.trades["exit_reason"] != 3
    done_b &= b.trades["exit_reason"] != 3
    for name in a.trades:
        np.testing.assert_array_equal(a.trades[name][done_a], b.trades[name][done_b], name)


@PROPERTY_SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(1, 200), params=params_st)
def test_equity_accounts_for_every_trade(seed, n, params):
    bars, target = _series(seed, n)
    r = _run(bars, target, init_cash=5_000.0, **params)
    t = r.trades
    assert np.isclose(r.equity[-1], 5_000.0 + t["net_pnl"].sum(), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(t["net_pnl"], t["gross_pnl"] - t["fees"], rtol=1e-12, atol=1e-9)
    assert np.all(t["bars_held"] == t["exit_index"] - t["entry_index"])
    assert np.all(t["entry_index"] >= 1)  # nothing fills before the first decision's next bar
    sized = t["quantity"] > 0
    cost = t["quantity"] * t["entry_price"] * (1 + params["fees_bps"] / 1e4)
    np.testing.assert_allclose(
        t["return_pct"][sized], t["net_pnl"][sized] / cost[sized], rtol=1e-9, atol=1e-12
    )
    if params["direction"] == "long_only":
        assert np.all(t["side"] == 1)
