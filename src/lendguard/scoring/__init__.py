"""Credit scoring: a scorecard learned from outcomes (binning, WoE, logistic regression, points), reason codes and monitoring (SPEC §1.1)."""
