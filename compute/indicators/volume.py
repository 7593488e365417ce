"""Volume Indicators (TA-Lib group "Volume Indicators")."""

GROUP = "Volume Indicators"
