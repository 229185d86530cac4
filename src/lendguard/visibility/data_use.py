"""The visibility engine's declaration of the user data it reads, and which check needs which.

A check whose uses are not all available for a user is "not assessable, consent
needed": the missing data is never read as a risk signal.
"""

from __future__ import annotations

from lendguard.consent.uses import AGGREGATE, ROWS, DataUse, EngineUses

PROFILE = DataUse("profile", ROWS, "credit_scoring")
DEVICE = DataUse("device", ROWS, "anti_fraud")
IDENTITY = DataUse("identity", ROWS, "anti_fraud")
PAYMENT_ROWS = DataUse("payment_flows", ROWS, "credit_scoring")
PAYMENT_TOTALS = DataUse("payment_flows", AGGREGATE, "credit_scoring")
SOCIAL = DataUse("social_graph", ROWS, "anti_fraud")
ASSETS = DataUse("assets", ROWS, "credit_scoring")
CREDIT_HISTORY = DataUse("credit_history", ROWS, "credit_scoring")
APP_ACTIVITY = DataUse("app_activity", ROWS, "credit_scoring")  # read by product admission (loans/offers.py)

VISIBILITY_USES = EngineUses(
    "visibility", (PROFILE, DEVICE, IDENTITY, PAYMENT_ROWS, PAYMENT_TOTALS, SOCIAL, ASSETS, CREDIT_HISTORY, APP_ACTIVITY)
)

# The uses each check's measured values come from (AF01 reads the lender's own risk state).
CHECK_USES: dict[str, tuple[DataUse, ...]] = {
    "CR01": (PAYMENT_TOTALS,),
    "CR02": (ASSETS,),
    "CR03": (CREDIT_HISTORY,),
    "CR04": (SOCIAL,),
    # A scorecard may read any computed feature, so the score is assessed only when every
    # category the features come from is consented: a declined scope is never a low score.
    "CR05": (PROFILE, DEVICE, IDENTITY, PAYMENT_ROWS, PAYMENT_TOTALS, SOCIAL, ASSETS, CREDIT_HISTORY, APP_ACTIVITY),
    "RG01": (DEVICE,),
    "RG02": (DEVICE,),
    "RG03": (DEVICE,),
    "RG04": (PROFILE, DEVICE),
    "KY01": (IDENTITY,),
    "KY02": (IDENTITY,),
    "KY03": (IDENTITY,),
    "KY04": (CREDIT_HISTORY,),
    "KY05": (IDENTITY,),
    "PB01": (PAYMENT_TOTALS,),
    "PB02": (PAYMENT_TOTALS,),
    "PB03": (PAYMENT_ROWS,),
    "PB04": (SOCIAL,),
    "PB05": (PAYMENT_TOTALS,),
    "PB06": (PAYMENT_ROWS, SOCIAL),
    "PD01": (CREDIT_HISTORY,),
    "PD02": (CREDIT_HISTORY,),
    "PD03": (CREDIT_HISTORY,),
    "DS01": (DEVICE,),
    "DS02": (DEVICE,),
    "DS03": (DEVICE,),
    "DS04": (DEVICE,),
    "DS05": (DEVICE,),
    "DS06": (DEVICE,),
    "GR01": (DEVICE,),
    "GR02": (DEVICE,),
    "AF01": (),
}
