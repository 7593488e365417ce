"""A night continuing a portfolio from its saved state equals one walk over the final input
(flows.portfolio: ``state_table``, ``read_state``, ``continue_from``), and the rule for when
a night recomputes a portfolio whole."""

from __future__ import annotations

import numpy as np
import pytest

from compute import allocation
from compute.allocation import PortfolioRules, PortfolioState
from flows.portfolio import STATE_FIELDS, SavedState, continue_from, read_state, state_table

DAY_US = 86_400_000_000
RULES = {
    "rank_weekly_fees": PortfolioRules(
        top=3, rebalance="weekly", fees_bps=5, slippage_bps=2, init_cash=1e5
    ),
    "long_short_monthly_lots_drift": PortfolioRules(
        top=2,
        bottom=2,
        direction="long_short",
        rebalance="monthly",
        lot_size=1.0,
        drift=0.01,
        fees_bps=3,
        init_cash=5e4,
    ),
}


def _universe(n_sym=8, n_bars=240, seed=7, late=None):
    """Per symbol: timestamps, open, close, volume, a 5-bar return score. Symbol ``late``
    (an index) has bars only from bar 170 on."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2022-01-03", "D")
    out = []
    for s in range(n_sym):
        keep = rng.random(n_bars) > 0.1
        keep[: s * 5] = False
        if s == late:
            keep[:170] = False
        days = np.flatnonzero(keep)
        close = 40 * np.exp(np.cumsum(rng.normal(0, 0.02, days.size)))
        score = np.full(days.size, np.nan)
        score[5:] = close[5:] / close[:-5] - 1
        out.append(
            {
                "ts": (base + days).astype("datetime64[us]").astype(np.int64),
                "open": close * np.exp(rng.normal(0, 0.005, days.size)),
                "close": close,
                "volume": rng.uniform(1e4, 1e5, days.size),
                "score": score,
            }
        )
    return out


def _concat(per_symbol):
    cols = {k: np.concatenate([p[k] for p in per_symbol]) for k in per_symbol[0]}
    offsets = np.r_[0, np.cumsum([p["ts"].size for p in per_symbol])].astype(np.int64)
    return cols, offsets


def _simulate(per_symbol, rules):
    cols, offsets = _concat(per_symbol)
    return allocation.simulate_portfolio(
        cols["ts"], cols["open"], cols["close"], cols["volume"], cols["score"], offsets, rules
    )


def _named(result, symbols):
    """Orders and holdings with symbol names for indices (walks over different universes)."""
    out = {"bars": dict(result.bars)}
    names = np.asarray(symbols, dtype=object)
    for table in ("orders", "holdings"):
        cols = dict(getattr(result, table))
        cols["symbol"] = names[cols["symbol"]]
        out[table] = cols
    return out


@pytest.mark.parametrize("rules_name", list(RULES))
@pytest.mark.parametrize("late", [None, 2], ids=["same_symbols", "new_symbol_after_cut"])
def test_a_night_continued_from_the_saved_state_equals_one_walk(rules_name, late):
    rules = RULES[rules_name]
    final = _universe(late=late)
    symbols = tuple(f"S{i}" for i in range(len(final)))
    cut_us = int(final[0]["ts"][0] + 150 * DAY_US)
    # last night: every symbol's bars up to the cut (the late symbol had none yet)
    kept = [i for i, p in enumerate(final) if (p["ts"] <= cut_us).any()]
    before = [{k: v[final[i]["ts"] <= cut_us] for k, v in final[i].items()} for i in kept]
    night1 = _simulate(before, rules)
    saved = read_state(
        state_table(
            "p", tuple(symbols[i] for i in kept), night1.state, int(night1.calendar_us[-1]), "sig"
        ),
        "p",
    )
    assert saved is not None
    assert saved.last_us <= cut_us

    # tonight: phase 1 over the whole final input, phase 2 over the bars after the cut only
    cols, offsets = _concat(final)
    rows = allocation.batch_rows(
        cols["ts"], cols["open"], cols["close"], cols["volume"], cols["score"], offsets,
        np.arange(len(final)), rules,
    )  # fmt: skip
    cal = allocation.calendar(rows["timestamp"])
    sched = allocation.rebalance_schedule(cal, rules.rebalance)
    first_us = {s: int(p["ts"][0]) for s, p in zip(symbols, final, strict=True)}
    state, reason = continue_from(saved, symbols, first_us, "sig", full=False)
    assert state is not None, reason
    start = int(np.searchsorted(cal, saved.last_us, side="right"))
    assert 0 < start < cal.shape[0]
    after = rows["timestamp"] > saved.last_us
    part, _ = allocation.walk_rows(
        {k: v[after] for k, v in rows.items()}, cal[start:], sched[start:], len(symbols),
        state, rules, bar_offset=start,
    )  # fmt: skip

    whole = _simulate(final, rules)
    assert whole.result.orders["bar"].shape[0] > 20
    assert (whole.result.orders["bar"] >= start).sum() > 5  # the continued part trades
    last_night = _named(night1.result, [symbols[i] for i in kept])
    tonight = _named(part, symbols)
    for table, want in _named(whole.result, symbols).items():
        for col, values in want.items():
            got = np.concatenate([last_night[table][col], tonight[table][col]])
            np.testing.assert_array_equal(got, values, err_msg=f"{table}.{col}")


FIRST = {"A": 1, "B": 1, "C": 1}


def _saved(symbols=("A", "B", "C"), last_us=100, signature="sig"):
    state = PortfolioState.initial(len(symbols), 1000.0)
    state.position[:] = [1.0, 2.0, 3.0][: len(symbols)]
    state.cash = 250.0
    return SavedState(symbols=tuple(symbols), state=state, last_us=last_us, signature=signature)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"full": True}, "--full"),
        ({"saved": None}, "nothing published yet"),
        ({"signature": "other"}, "the computation or the portfolio config changed"),
        ({"restated": ("B",)}, "symbol 'B' was restated"),
        ({"symbols": ("A", "C")}, "symbol 'B' vanished"),
        ({"first_us": {"A": 1, "C": 1}}, "symbol 'B' vanished"),
        ({"symbols": ("A", "B", "C", "D"), "first_us": {**FIRST, "D": 100}}, "new symbol 'D'"),
        ({"symbols": ("A", "B", "C", "D"), "first_us": FIRST}, "new symbol 'D' has bars"),
        ({"symbols": ("B", "A", "C")}, "the symbols' order changed"),
        ({"extended_after": {"A": 100, "B": 99}}, "symbol 'B' got bars before the last"),
    ],
)
def test_a_portfolio_is_recomputed_whole_when_the_state_cannot_be_continued(kwargs, reason):
    args = {
        "saved": _saved(),
        "symbols": ("A", "B", "C"),
        "first_us": {"A": 1, "B": 1, "C": 1},
        "signature": "sig",
        "full": False,
        "restated": (),
        "extended_after": {},
    }
    args.update(kwargs)
    state, why = continue_from(
        args.pop("saved"), args.pop("symbols"), args.pop("first_us"), args.pop("signature"),
        **args,
    )  # fmt: skip
    assert state is None
    assert why.startswith(reason)


def test_a_new_symbol_after_the_cut_joins_with_an_empty_position_in_walk_order():
    state, why = continue_from(
        _saved(), ("A", "N", "B", "C"), {**FIRST, "N": 101}, "sig", full=False, restated=("N",)
    )
    assert why == ""
    assert state is not None
    assert state.cash == 250.0
    np.testing.assert_array_equal(state.position, [1.0, 0.0, 2.0, 3.0])
    assert np.isnan(state.last_close).all()


def test_state_table_round_trips_every_field():
    saved = _saved()
    saved.state.last_close[:] = [10.0, np.nan, 12.5]
    saved.state.pending[:] = [0, 1, 2]
    saved.state.selection[:] = [1, -1, 0]
    saved.state.target[:] = [0.5, -0.25, 0.0]
    table = state_table("p", saved.symbols, saved.state, 123, "sig")
    back = read_state(table, "p")
    assert back is not None
    assert (back.symbols, back.last_us, back.signature) == (saved.symbols, 123, "sig")
    assert back.state.cash == saved.state.cash
    for f in ("position", "last_close", "target", "pending", "selection"):
        a, b = getattr(back.state, f), getattr(saved.state, f)
        assert a.dtype == b.dtype, f
        np.testing.assert_array_equal(a, b, err_msg=f)
    assert read_state(table, "other") is None


def _lagging_night(rules, lag_bars=4, benchmark=None, pick_held=False):
    """Last night: every symbol up to a saved bar S, one symbol L only up to ``lag_bars`` bars
    before S (no decision bar in between); tonight L's late bars arrive with the rest.
    Returns what ``continue_from`` needs, the walk of tonight and the whole walk."""
    final = _universe(n_bars=260)
    symbols = tuple(f"S{i}" for i in range(len(final)))
    cols, offsets = _concat(final)
    rows = allocation.batch_rows(
        cols["ts"], cols["open"], cols["close"], cols["volume"], cols["score"], offsets,
        np.arange(len(final)), rules,
    )  # fmt: skip
    cal = allocation.calendar(rows["timestamp"])
    sched = allocation.rebalance_schedule(cal, rules.rebalance)
    decisions = np.flatnonzero(sched)
    # S: a bar with no decision in the lag_bars bars up to it, and later decisions to come
    s_idx = next(
        i
        for i in range(150, 220)
        if not sched[i - lag_bars + 1 : i + 1].any() and sched[i + 1 :].any()
    )
    saved_us, lag_us = int(cal[s_idx]), int(cal[s_idx - lag_bars])
    whole = _simulate(final, rules)
    for lag in range(len(final)):  # L: a symbol the whole walk (hence also last night) ...
        before = [
            {k: v[p["ts"] <= (lag_us if i == lag else saved_us)] for k, v in p.items()}
            for i, p in enumerate(final)
        ]
        night1 = _simulate(before, rules)
        st = night1.state
        held = st.position[lag] != 0.0 or st.pending[lag] != 0
        late = ((final[lag]["ts"] > lag_us) & (final[lag]["ts"] <= saved_us)).any()
        if held == pick_held and late:  # ... holds (or not) at S, and has late bars
            break
    else:
        raise AssertionError("no symbol fits")
    np.testing.assert_array_equal(night1.calendar_us, cal[: s_idx + 1])  # same calendar
    saved = read_state(state_table("p", symbols, night1.state, saved_us, "sig"), "p")
    last_at = {}
    for s, p in zip(symbols, final, strict=True):
        j = int(np.searchsorted(p["ts"], saved_us, side="right")) - 1
        last_at[s] = (int(p["ts"][j]), float(p["close"][j]))
    state, reason = continue_from(
        saved, symbols, {s: int(p["ts"][0]) for s, p in zip(symbols, final, strict=True)},
        "sig", full=False, extended_after={symbols[lag]: lag_us}, decisions_us=cal[sched],
        benchmark=benchmark, last_at=last_at,
    )  # fmt: skip
    assert decisions.size > 3
    return symbols, rows, cal, sched, s_idx, night1, whole, state, reason


@pytest.mark.parametrize("rules_name", list(RULES))
def test_a_symbol_lagging_behind_is_continued_and_equals_one_walk(rules_name):
    rules = RULES[rules_name]
    symbols, rows, cal, sched, s_idx, night1, whole, state, reason = _lagging_night(rules)
    assert state is not None, reason
    start = s_idx + 1
    after = rows["timestamp"] > cal[s_idx]
    part, end = allocation.walk_rows(
        {k: v[after] for k, v in rows.items()}, cal[start:], sched[start:], len(symbols),
        state, rules, bar_offset=start,
    )  # fmt: skip
    assert (whole.result.orders["bar"] >= start).sum() > 5  # the continued part trades
    last_night, tonight = _named(night1.result, symbols), _named(part, symbols)
    for table, want in _named(whole.result, symbols).items():
        for col, values in want.items():
            got = np.concatenate([last_night[table][col], tonight[table][col]])
            np.testing.assert_array_equal(got, values, err_msg=f"{table}.{col}")
    for f in (*STATE_FIELDS, "cash"):  # the next night's saved state too
        np.testing.assert_array_equal(getattr(end, f), getattr(whole.state, f), err_msg=f)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"pick_held": True}, "while held or with an order pending"),
        ({"benchmark": "equal_weight"}, "and the benchmark (equal_weight) has them"),
    ],
)
def test_a_lagging_symbol_whose_late_bars_matter_recomputes_whole(kwargs, reason):
    *_, state, why = _lagging_night(RULES["rank_weekly_fees"], **kwargs)
    assert state is None
    assert why.endswith(reason), why


def test_a_lagging_symbol_over_a_decision_or_under_signal_rebalancing_recomputes_whole():
    saved = _saved()
    saved.state.position[1] = 0.0
    at = {"A": (100, 1.0), "B": (100, 2.0), "C": (100, 3.0)}
    common = {"full": False, "extended_after": {"B": 90}, "last_at": at}
    state, why = continue_from(
        saved, ("A", "B", "C"), FIRST, "sig", decisions_us=np.array([95]), **common
    )
    assert (state, why) == (
        None,
        "symbol 'B' got bars before the last published bar over a rebalance decision",
    )
    state, why = continue_from(saved, ("A", "B", "C"), FIRST, "sig", **common)
    assert state is None
    assert why.endswith("any bar may rebalance (signal)")
    state, why = continue_from(
        saved, ("A", "B", "C"), FIRST, "sig", decisions_us=np.array([80, 101]), **common
    )
    assert why == ""
    assert state is not None
    assert state.last_close[1] == 2.0  # its close at its last bar up to the saved one
