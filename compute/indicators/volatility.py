"""Volatility Indicators (TA-Lib group "Volatility Indicators")."""

GROUP = "Volatility Indicators"
