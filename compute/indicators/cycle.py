"""Cycle Indicators (TA-Lib group "Cycle Indicators")."""

GROUP = "Cycle Indicators"
