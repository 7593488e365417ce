"""Statistic Functions (TA-Lib group "Statistic Functions")."""

GROUP = "Statistic Functions"
