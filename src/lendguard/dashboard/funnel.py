"""The conversion funnel exposure → registration → authorization → approval (SPEC §8) and
the authorization refusal rate, each step defined from data the project stores: the event
schema records no page views or sign-ups, so a step is read from the decision, the consent
layers in force, the offers engine and the loan ledger (the definitions travel with the
numbers, and the page shows them)."""

from __future__ import annotations

from typing import Any

import polars as pl

from lendguard.dashboard.section import empty, ok, share
from lendguard.policy import Policy

# The consent layers the steps read: registration is the layer asked on first use of the
# mini-program (the phone number an account needs), authorization the optional deep
# credit query (SPEC §4). The names are fixed by the event schema (ConsentScopeName).
REGISTRATION = ("phone_device", "account")
AUTHORIZATION = ("deep_credit", "credit_scoring")

STEPS: tuple[dict[str, Any], ...] = (
    {
        "step": "exposure",
        "title": {"en": "Exposure", "zh": "曝光"},
        "definition": {
            "en": "Users shown the loan entry: visible in the last evaluation (no dimension fails or is not assessable).",
            "zh": "看到借款入口的用户：最近一次评估中可见（八个维度均无未通过或无法评估）。",
        },
    },
    {
        "step": "registration",
        "title": {"en": "Registration", "zh": "注册"},
        "definition": {
            "en": "Exposed users who granted the phone-and-device layer (phone_device) for running the account, the grant given on first use of the mini-program with the phone number an account needs, and have not withdrawn it.",
            "zh": "已曝光且授予“手机号与设备信息”层（phone_device，用途：账户服务）并未撤回的用户：首次使用小程序时授予，含注册所需的手机号。",
        },
    },
    {
        "step": "authorization",
        "title": {"en": "Authorization", "zh": "授权"},
        "definition": {
            "en": "Registered users with the deep credit query layer (deep_credit) granted for credit assessment and not withdrawn.",
            "zh": "已注册且授予“深度信用查询”层（deep_credit，用途：信用评估）并未撤回的用户。",
        },
    },
    {
        "step": "approval",
        "title": {"en": "Approval", "zh": "审批通过"},
        "definition": {
            "en": "Authorized users admitted to at least one product by the offers engine under the current policy (admission checks, a line of at least the product's minimum, APR within the caps).",
            "zh": "已授权且在现行策略下被至少一款产品准入的用户（准入检查、额度不低于产品下限、年化利率不超上限）。",
        },
    },
    {
        "step": "line_opened",
        "title": {"en": "Line opened", "zh": "已开通额度"},
        "definition": {
            "en": "Approved users with a credit line in the loan ledger.",
            "zh": "审批通过且在贷款账本中已开通授信额度的用户。",
        },
    },
)

REFUSAL_DEFINITION = {
    "en": "Registered users (phone_device granted for the account) without the deep credit query (deep_credit for credit assessment) in force, never granted or withdrawn, over all registered users. "
    "The store does not record who was asked, so every registered user counts as asked.",
    "zh": "已注册用户（已授予 phone_device 账户服务）中未持有有效深度信用查询授权（deep_credit，信用评估）的比例，包括从未授权和已撤回。"
    "数据中不记录是否被询问，因此所有已注册用户均视为已被询问。",
}


def grants_in_force(actions: pl.DataFrame, scope: str, purpose: str) -> pl.DataFrame:
    """The users whose latest action on (scope, purpose) is a grant: one column, user_id."""
    return actions.filter((pl.col("scope") == scope) & (pl.col("purpose") == purpose) & ~pl.col("withdrawn")).select("user_id").unique()


def _flag(frame: pl.DataFrame, users: pl.DataFrame | None, name: str) -> pl.DataFrame:
    if users is None:
        return frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias(name))
    marked = users.select("user_id").unique().with_columns(pl.lit(True).alias(name))
    return frame.join(marked, on="user_id", how="left").with_columns(pl.col(name).fill_null(False))


def funnel_section(
    decisions: pl.DataFrame | None,
    actions: pl.DataFrame,
    offers: pl.DataFrame | None,
    lines: pl.DataFrame | None,
    policy: Policy,
) -> dict[str, Any]:
    """`decisions` (user_id, visible), the latest consent `actions` (consent.state.latest_actions),
    the population's `offers` (loans.population.population_offers; None without events) and the
    users with a credit `line` in the ledger (None without a ledger)."""
    if decisions is None or decisions.height == 0:
        return empty(
            "No decisions yet, so no exposure: run `lendguard evaluate` on this data directory.",
            "尚无可见性决策，因此没有曝光数据：请在此数据目录运行 `lendguard evaluate`。",
            steps=[{**s, "users": None} for s in STEPS],
        )
    admitted = None if offers is None else offers.filter(pl.col("admitted")).select("user_id")
    frame = decisions.select("user_id", pl.col("visible").fill_null(False).alias("exposure"))
    frame = _flag(frame, grants_in_force(actions, *REGISTRATION), "registered")
    frame = _flag(frame, grants_in_force(actions, *AUTHORIZATION), "authorized")
    frame = _flag(frame, admitted, "admitted")
    frame = _flag(frame, lines, "has_line")
    reached = frame.select(
        pl.len().alias("population"),
        pl.col("exposure").sum().alias("exposure"),
        (pl.col("exposure") & pl.col("registered")).sum().alias("registration"),
        (pl.col("exposure") & pl.col("registered") & pl.col("authorized")).sum().alias("authorization"),
        (pl.col("exposure") & pl.col("registered") & pl.col("authorized") & pl.col("admitted")).sum().alias("approval"),
        (pl.col("exposure") & pl.col("registered") & pl.col("authorized") & pl.col("admitted") & pl.col("has_line")).sum().alias("line_opened"),
    ).row(0, named=True)
    population = int(reached["population"])
    missing = {"approval": offers is None, "line_opened": offers is None or lines is None}
    steps, previous = [], population
    for step in STEPS:
        name = step["step"]
        users = None if missing.get(name) else int(reached[name] or 0)
        steps.append({**step, "users": users, "of_previous": None if users is None else share(users, previous), "of_population": None if users is None else share(users, population)})
        previous = users if users is not None else previous
    by_product = []
    if offers is not None:
        authorized = frame.filter(pl.col("exposure") & pl.col("registered") & pl.col("authorized")).select("user_id")
        per_product = (
            offers.join(authorized, on="user_id", how="semi")
            .group_by("product_id")
            .agg(pl.len().alias("users"), pl.col("admitted").sum().alias("admitted"))
        )
        names = {pid: p.name for pid, p in policy.loans.products.items()}
        by_product = [
            {"product_id": r["product_id"], "name": names[r["product_id"]].model_dump() if r["product_id"] in names else None,
             "users": r["users"], "admitted": r["admitted"], "admitted_share": share(r["admitted"], r["users"])}
            for r in per_product.sort("product_id").iter_rows(named=True)
        ]
    notes = []
    if offers is None:
        notes.append({"en": "No stored events: approval cannot be computed.", "zh": "没有已存储的事件：无法计算审批通过。"})
    elif lines is None:
        notes.append({"en": "No loan ledger yet: no line has been opened.", "zh": "尚无贷款账本：没有开通任何额度。"})
    return ok(population=population, steps=steps, by_product=by_product, notes=notes)


def authorization_section(actions: pl.DataFrame, policy: Policy) -> dict[str, Any]:
    """The refusal rate of the optional deep credit query, and every layer's grants in force."""
    if actions.height == 0:
        return empty("No consent events stored yet.", "尚无授权事件。", definition=REFUSAL_DEFINITION)
    registered = grants_in_force(actions, *REGISTRATION)
    authorized = grants_in_force(actions, *AUTHORIZATION)
    withdrawn = actions.filter(
        (pl.col("scope") == AUTHORIZATION[0]) & (pl.col("purpose") == AUTHORIZATION[1]) & pl.col("withdrawn")
    ).select("user_id").unique()
    refused = registered.join(authorized, on="user_id", how="anti")
    refused_withdrawn = refused.join(withdrawn, on="user_id", how="semi").height
    layers = (
        actions.group_by("scope", "purpose")
        .agg((~pl.col("withdrawn")).sum().alias("in_force"), pl.col("withdrawn").sum().alias("withdrawn"))
        .sort("scope", "purpose")
    )
    return ok(
        definition=REFUSAL_DEFINITION,
        registered=registered.height,
        authorized_registered=registered.height - refused.height,
        refused=refused.height,
        refused_never_granted=refused.height - refused_withdrawn,
        refused_withdrawn=refused_withdrawn,
        refusal_rate=share(refused.height, registered.height),
        layers=[
            {**row, "scope_name": _name(policy.consent.scopes.get(row["scope"])), "purpose_name": _name(policy.consent.purposes.get(row["purpose"]))}
            for row in layers.to_dicts()  # scope x purpose: a handful of rows
        ],
    )


def _name(entry: Any) -> dict[str, str] | None:
    """The bilingual name of a scope or purpose from the policy (None when the policy no longer has it)."""
    if entry is None:
        return None
    name = getattr(entry, "name", entry)
    return {"en": name.en, "zh": name.zh}
