"""Momentum Indicators (TA-Lib group "Momentum Indicators")."""

GROUP = "Momentum Indicators"
