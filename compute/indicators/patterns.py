"""Pattern Recognition (TA-Lib group "Pattern Recognition")."""

GROUP = "Pattern Recognition"
