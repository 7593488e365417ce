"""The pandas indicator code a bot in the style of the reference guide would write.

Two things live here, both written the way the bot writes indicators (``rolling``,
``ewm``, ``where``, ``rolling(...).apply`` where pandas has no built-in), not the way
TA-Lib defines them:

- ``PANDAS``: one function per indicator of the compute core's default set, TA-Lib's
  default windows, each taking the bars as a DataFrame and returning its outputs. The
  kernel benchmark times them against barpipe's kernels on the same arrays.
- ``guide_indicators``: the guide's per-symbol indicator step (SMA 20/50, EMA 12/26 via
  ``ewm(span=...)``, MACD, the simple-average RSI, Bollinger Bands with the sample std and
  ``bb_position``), and ``guide_momentum_signal``, its weighted momentum composite. The
  end-to-end baseline (``baseline_bot.py``) runs these.

Their values differ from TA-Lib's where the guide's formulas do (simple-average RSI,
pandas-seeded EMAs, sample std); the benchmarks compare time, not values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Frame = pd.DataFrame
Outputs = dict[str, pd.Series]


def _ema(s: pd.Series, n: int) -> pd.Series:
    return s.ewm(span=n, adjust=False).mean()


def _wilder(s: pd.Series, n: int) -> pd.Series:
    return s.ewm(alpha=1.0 / n, adjust=False).mean()


def _true_range(df: Frame) -> pd.Series:
    prev = df["close"].shift(1)
    return pd.concat(
        [df["high"] - df["low"], (df["high"] - prev).abs(), (df["low"] - prev).abs()], axis=1
    ).max(axis=1)


def sma(df: Frame, n: int = 30) -> Outputs:
    return {"real": df["close"].rolling(n).mean()}


def ema(df: Frame, n: int = 30) -> Outputs:
    return {"real": _ema(df["close"], n)}


def wma(df: Frame, n: int = 30) -> Outputs:
    w = np.arange(1, n + 1, dtype=np.float64)
    return {"real": df["close"].rolling(n).apply(lambda x: np.dot(x, w) / w.sum(), raw=True)}


def dema(df: Frame, n: int = 30) -> Outputs:
    e1 = _ema(df["close"], n)
    return {"real": 2 * e1 - _ema(e1, n)}


def tema(df: Frame, n: int = 30) -> Outputs:
    e1 = _ema(df["close"], n)
    e2 = _ema(e1, n)
    return {"real": 3 * e1 - 3 * e2 + _ema(e2, n)}


def macd(df: Frame, fast: int = 12, slow: int = 26, signal: int = 9) -> Outputs:
    line = _ema(df["close"], fast) - _ema(df["close"], slow)
    sig = _ema(line, signal)
    return {"macd": line, "macdsignal": sig, "macdhist": line - sig}


def rsi(df: Frame, n: int = 14) -> Outputs:
    delta = df["close"].diff()
    gain = delta.where(delta > 0, 0.0).rolling(n).mean()
    loss = (-delta.where(delta < 0, 0.0)).rolling(n).mean()
    return {"real": 100 - 100 / (1 + gain / loss)}


def bbands(df: Frame, n: int = 5, k: float = 2.0) -> Outputs:
    mid = df["close"].rolling(n).mean()
    std = df["close"].rolling(n).std()
    return {"upperband": mid + k * std, "middleband": mid, "lowerband": mid - k * std}


def stddev(df: Frame, n: int = 5) -> Outputs:
    return {"real": df["close"].rolling(n).std(ddof=0)}


def var(df: Frame, n: int = 5) -> Outputs:
    return {"real": df["close"].rolling(n).var(ddof=0)}


def trange(df: Frame) -> Outputs:
    return {"real": _true_range(df)}


def atr(df: Frame, n: int = 14) -> Outputs:
    return {"real": _wilder(_true_range(df), n)}


def natr(df: Frame, n: int = 14) -> Outputs:
    return {"real": _wilder(_true_range(df), n) / df["close"] * 100}


def roc(df: Frame, n: int = 10) -> Outputs:
    return {"real": df["close"].pct_change(n) * 100}


def mom(df: Frame, n: int = 10) -> Outputs:
    return {"real": df["close"].diff(n)}


def willr(df: Frame, n: int = 14) -> Outputs:
    hh = df["high"].rolling(n).max()
    ll = df["low"].rolling(n).min()
    return {"real": (hh - df["close"]) / (hh - ll) * -100}


def obv(df: Frame) -> Outputs:
    return {"real": (np.sign(df["close"].diff()) * df["volume"]).fillna(0).cumsum()}


def ad(df: Frame) -> Outputs:
    h, low, c = df["high"], df["low"], df["close"]
    clv = ((c - low) - (h - c)) / (h - low)
    return {"real": (clv.fillna(0) * df["volume"]).cumsum()}


def _fast_k(df: Frame, n: int) -> pd.Series:
    ll = df["low"].rolling(n).min()
    return (df["close"] - ll) / (df["high"].rolling(n).max() - ll) * 100


def stoch(df: Frame, k: int = 5, slowk: int = 3, slowd: int = 3) -> Outputs:
    sk = _fast_k(df, k).rolling(slowk).mean()
    return {"slowk": sk, "slowd": sk.rolling(slowd).mean()}


def stochf(df: Frame, k: int = 5, d: int = 3) -> Outputs:
    fk = _fast_k(df, k)
    return {"fastk": fk, "fastd": fk.rolling(d).mean()}


def cci(df: Frame, n: int = 14) -> Outputs:
    tp = (df["high"] + df["low"] + df["close"]) / 3
    mean = tp.rolling(n).mean()
    mad = tp.rolling(n).apply(lambda x: np.abs(x - x.mean()).mean(), raw=True)
    return {"real": (tp - mean) / (0.015 * mad)}


def _di(df: Frame, n: int) -> tuple[pd.Series, pd.Series]:
    up = df["high"].diff()
    down = -df["low"].diff()
    plus_dm = up.where((up > down) & (up > 0), 0.0)
    minus_dm = down.where((down > up) & (down > 0), 0.0)
    atr_ = _wilder(_true_range(df), n)
    return 100 * _wilder(plus_dm, n) / atr_, 100 * _wilder(minus_dm, n) / atr_


def plus_di(df: Frame, n: int = 14) -> Outputs:
    return {"real": _di(df, n)[0]}


def minus_di(df: Frame, n: int = 14) -> Outputs:
    return {"real": _di(df, n)[1]}


def adx(df: Frame, n: int = 14) -> Outputs:
    pdi, mdi = _di(df, n)
    return {"real": _wilder(100 * (pdi - mdi).abs() / (pdi + mdi), n)}


def mfi(df: Frame, n: int = 14) -> Outputs:
    tp = (df["high"] + df["low"] + df["close"]) / 3
    flow = tp * df["volume"]
    change = tp.diff()
    pos = flow.where(change > 0, 0.0).rolling(n).sum()
    neg = flow.where(change < 0, 0.0).rolling(n).sum()
    return {"real": 100 - 100 / (1 + pos / neg)}


# The compute core's default set (the pipeline issue's list), each with TA-Lib's default
# windows. ``wma`` and ``cci`` use ``rolling.apply`` (a Python call per window), the usual
# pandas idiom where no built-in exists; the kernel benchmark reports the set with and
# without them.
PANDAS: dict[str, Callable[[Frame], Outputs]] = {
    "sma": sma,
    "ema": ema,
    "wma": wma,
    "dema": dema,
    "tema": tema,
    "macd": macd,
    "rsi": rsi,
    "bbands": bbands,
    "stddev": stddev,
    "var": var,
    "atr": atr,
    "natr": natr,
    "trange": trange,
    "roc": roc,
    "mom": mom,
    "willr": willr,
    "obv": obv,
    "ad": ad,
    "stoch": stoch,
    "stochf": stochf,
    "cci": cci,
    "adx": adx,
    "plus_di": plus_di,
    "minus_di": minus_di,
    "mfi": mfi,
}
APPLY_BASED = ("wma", "cci")


def guide_indicators(df: Frame) -> Frame:
    """The guide's per-symbol indicator step: a copy of ``df`` with its columns added."""
    df = df.copy()
    close = df["close"]
    df["sma_20"] = close.rolling(20, min_periods=1).mean()
    df["sma_50"] = close.rolling(50, min_periods=1).mean()
    df["ema_12"] = close.ewm(span=12).mean()
    df["ema_26"] = close.ewm(span=26).mean()
    df["macd"] = df["ema_12"] - df["ema_26"]
    df["macd_signal"] = df["macd"].ewm(span=9).mean()
    df["macd_histogram"] = df["macd"] - df["macd_signal"]
    delta = close.diff()
    gain = delta.where(delta > 0, 0).rolling(window=14).mean()
    loss = (-delta.where(delta < 0, 0)).rolling(window=14).mean()
    df["rsi"] = 100 - 100 / (1 + gain / loss)
    mean = close.rolling(20).mean()
    std = close.rolling(20).std()
    df["bb_upper"] = mean + 2 * std
    df["bb_lower"] = mean - 2 * std
    df["bb_position"] = (close - df["bb_lower"]) / (df["bb_upper"] - df["bb_lower"])
    return df


def guide_momentum_signal(df: Frame) -> pd.Series:
    """The guide's momentum composite: 0.4 x 5-bar momentum % + 0.3 x RSI band + 0.3 x MACD."""
    price_momentum = (df["close"] / df["close"].shift(5) - 1) * 100
    rsi_signal = np.where(df["rsi"] > 70, -1, np.where(df["rsi"] < 30, 1, 0))
    macd_signal = np.where(df["macd"] > df["macd_signal"], 1, -1)
    combined = price_momentum * 0.4 + rsi_signal * 0.3 + macd_signal * 0.3
    return pd.Series(np.sign(combined), index=df.index)
