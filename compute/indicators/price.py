"""Price Transform (TA-Lib group "Price Transform")."""

GROUP = "Price Transform"
