"""The risk team's dashboard: JSON sections computed from what a data directory already
stores (decisions, events, risk levels, reviews, the loan ledger, the scorecard, the policy),
and the static page that draws them (`static/`, served by `api/dashboard_routes.py`)."""

from lendguard.dashboard.data import dashboard_data

__all__ = ["dashboard_data"]
