"""The decision a user (or the API) reads: every check with values, thresholds, texts and advice.

Built from one row of the engine's decision frame, so `explain`, the API and the
population's JSON Lines output all show exactly what the vectorised engine decided.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel

from lendguard.consent.gate import scope_to_ask
from lendguard.features.window import AsOf
from lendguard.policy import Policy
from lendguard.visibility.check import CONSENT_NEEDED, DIMENSIONS, PASS, Check
from lendguard.visibility.data_use import CHECK_USES
from lendguard.visibility.dimensions import active_checks
from lendguard.visibility.engine import override_column

Status = Literal["pass", "warn", "fail", "not_assessable"]


class Text(BaseModel):
    zh: str
    en: str


class AdviceOut(BaseModel):
    kind: str
    fixable: bool
    params: dict[str, Any]
    text: Text


class CheckResult(BaseModel):
    code: str
    name: str
    status: Status
    measured: dict[str, Any]
    reason: Text
    thresholds: dict[str, Any] | None = None  # omitted in a population's compact output
    title: Text | None = None
    advice: AdviceOut | None = None
    cleared_by_review: dict[str, str] | None = None  # a human review passed this check


class DimensionResult(BaseModel):
    dimension: str
    title: Text
    status: Status
    checks: list[CheckResult]


class Decision(BaseModel):
    """Whether the loan entry is shown to a user, and why."""

    user_id: str
    visible: bool
    as_of: dt.datetime
    policy_version: str
    policy_sha256: str
    scorecard_sha256: str | None = None  # the learned score's model, when the policy decides by it
    reason_codes: list[str]
    failed_dimensions: list[str]
    summary: Text
    region_tier: str | None = None
    line_factor: Decimal | None = None
    dimensions: list[DimensionResult]
    record_id: str | None = None  # the stored, evidence-logged record of this decision, when served


@cache
def texts() -> dict[str, Any]:
    raw = resources.files("lendguard.visibility").joinpath("texts.toml").read_text(encoding="utf-8")
    return tomllib.loads(raw)


class _Missing:
    """Stands in for an unknown value in a sentence, whatever its format spec."""

    def __format__(self, spec: str) -> str:
        return "-"


_MISSING = _Missing()


def render(template: str, params: dict[str, Any]) -> str:
    return template.format_map(params if isinstance(params, _Params) else _Params(params))


def _text(template: dict[str, str], params: _Params) -> dict[str, str]:
    return {"zh": template["zh"].format_map(params), "en": template["en"].format_map(params)}


class _Params(dict):
    def __init__(self, params: dict[str, Any]):
        super().__init__({k: (_MISSING if v is None else v) for k, v in params.items()})

    def __missing__(self, key: str) -> _Missing:
        return _MISSING


def _plain(value: Any) -> Any:
    """JSON-friendly value for the machine-readable fields."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _extra_params(check: Check, params: dict[str, Any]) -> dict[str, Any]:
    """Derived words a few templates need (direction, list of device fixes)."""
    extra: dict[str, Any] = {}
    if check.code == "PB04" and params.get("direction"):
        send = params["direction"] == "send"
        extra["direction_zh"] = "发出" if send else "收取"
        extra["direction_en"] = "Send" if send else "Receive"
    if check.code == "CR05":
        extra["score_reasons_zh"] = "".join(params.get("credit_score_reasons_zh") or []) or "-"
        extra["score_reasons_en"] = " ".join(params.get("credit_score_reasons_en") or []) or "-"
    if check.code == "DS06":
        zh, en = [], []
        names = {"rooted": ("恢复官方系统", "restore the official system"), "modified_client": ("改用官方客户端", "use the official client"), "malware": ("清除恶意软件", "remove the malware")}
        for finding in params.get("fix_findings") or []:
            zh.append(names[finding][0])
            en.append(names[finding][1])
        if params.get("disable_unknown_sources"):
            zh.append("关闭“允许安装未知来源应用”")
            en.append("turn off 'install from unknown sources'")
        if params.get("trusted_sessions"):
            zh.append(f"用移动数据或可信WiFi完成{params['trusted_sessions']}次使用")
            en.append(f"use mobile data or a trusted Wi-Fi for {params['trusted_sessions']} sessions")
        if params.get("minor_checks"):
            zh.append(f"修复{params['minor_checks']}项安全检测问题")
            en.append(f"fix {params['minor_checks']} failed security checks")
        extra["fixes_zh"] = "；".join(zh) or "-"
        extra["fixes_en"] = "; ".join(en) or "-"
    return extra


_META: dict[int, tuple[Policy, dict, dict]] = {}


def _check_meta(policy: Policy, as_of: AsOf) -> tuple[dict, dict]:
    """Each active check's advice parameter names, unfixable kinds and thresholds. None of
    them depends on the evaluation time, so they are built once per policy, not per
    decision (building the advice expressions was most of a served decision's cost)."""
    cached = _META.get(id(policy))
    if cached is None or cached[0] is not policy:
        checks = active_checks(policy)
        by_dimension = {d: [c for c in checks if c.dimension == d] for d in DIMENSIONS}
        meta = {}
        for check in checks:
            advice = check.advice(policy, as_of)
            thresholds = check.thresholds(policy)
            meta[check.code] = (tuple(advice.params), advice.not_fixable, thresholds, {k: _plain(v) for k, v in thresholds.items()})
        cached = _META[id(policy)] = (policy, by_dimension, meta)
    return cached[1], cached[2]


class DecisionRenderer:
    """Turns decision rows into `Decision`s; per-check metadata is prepared once per policy."""

    def __init__(self, policy: Policy, as_of: AsOf):
        self.policy = policy
        self.as_of = as_of
        self.catalogue = texts()
        self.context = {"months": as_of.months, "lookback_days": as_of.lookback_days}
        self.checks_by_dimension, self.meta = _check_meta(policy, as_of)

    def check_result(self, check: Check, row: dict[str, Any], compact: bool = False) -> dict[str, Any]:
        catalogue = self.catalogue[check.code]
        param_names, not_fixable, thresholds, plain_thresholds = self.meta[check.code]
        status = row[check.code]
        measured = {name: row.get(name) for name in check.measured}
        advice_kind = row.get(check.advice_column())
        advice_params = {name: row.get(check.advice_column(name)) for name in param_names} if advice_kind else {}
        context = {name: row.get(name) for name in check.context}
        params = {**measured, **context, **thresholds, **advice_params, **self.context}
        params.update(_extra_params(check, params))
        params = _Params(params)
        advice = None
        cleared_by = row.get(override_column(check.code))
        if cleared_by and status == PASS:
            return self._cleared(check, cleared_by, status, measured, compact)
        if advice_kind == CONSENT_NEEDED:
            return self._consent_needed(check, row, status, measured, compact)
        if advice_kind:
            advice = {
                "kind": advice_kind,
                "fixable": advice_kind not in not_fixable,
                "params": {k: _plain(v) for k, v in advice_params.items() if v is not None},
                "text": _text(catalogue["advice"][advice_kind], params),
            }
        result = {
            "code": check.code,
            "name": check.name,
            "status": status,
            "measured": {k: _plain(v) for k, v in measured.items()},
            "reason": _text(catalogue.get(status) or catalogue["fail"], params),
            "advice": advice,
        }
        if not compact:
            result["thresholds"] = plain_thresholds
            result["title"] = catalogue["title"]
        return result

    def _cleared(self, check: Check, cleared_by: str, status: str, measured: dict, compact: bool) -> dict[str, Any]:
        """A check a human review cleared: say which review and why, not the automated reading."""
        review_id, _, code = cleared_by.partition(":")
        reason = self.policy.reviews.override_reasons.get(code)
        params = _Params({"review_id": review_id, "reason_code": code, "reason_zh": reason.zh if reason else code, "reason_en": reason.en if reason else code})
        result = {
            "code": check.code,
            "name": check.name,
            "status": status,
            "measured": {k: _plain(v) for k, v in measured.items()},
            "reason": _text(self.catalogue["human_review"]["cleared"], params),
            "advice": None,
            "cleared_by_review": {"review_id": review_id, "reason_code": code},
        }
        if not compact:
            result["thresholds"] = self.meta[check.code][3]
            result["title"] = self.catalogue[check.code]["title"]
        return result

    def _consent_needed(self, check: Check, row: dict[str, Any], status: str, measured: dict, compact: bool) -> dict[str, Any]:
        """A check without consented data: which grant would let it be assessed (never a risk)."""
        missing = [use for use in CHECK_USES[check.code] if not row.get(use.key)]
        scopes = self.policy.consent.scopes
        asks = sorted({(scope_to_ask(use, self.policy), use.purpose) for use in missing}, key=lambda a: scopes[a[0]].layer)
        scope, purpose = asks[0]
        purposes = self.policy.consent.purposes
        params = _Params(
            {
                "scope_zh": scopes[scope].name.zh,
                "scope_en": scopes[scope].name.en,
                "purpose_zh": purposes[purpose].zh,
                "purpose_en": purposes[purpose].en,
            }
        )
        template = self.catalogue[CONSENT_NEEDED]
        result = {
            "code": check.code,
            "name": check.name,
            "status": status,
            "measured": {k: _plain(v) for k, v in measured.items()},
            "reason": _text(template["reason"], params),
            "advice": {
                "kind": CONSENT_NEEDED,
                "fixable": True,
                "params": {"scope": scope, "purpose": purpose, "grants": [list(a) for a in asks]},
                "text": _text(template["advice"], params),
            },
        }
        if not compact:
            result["thresholds"] = self.meta[check.code][3]
            result["title"] = self.catalogue[check.code]["title"]
        return result

    def decision(self, row: dict[str, Any], include_passing: bool = True) -> dict[str, Any]:
        """The decision document (a plain dict that validates as `Decision`).

        Without `include_passing`, only dimensions and checks that did not pass are listed:
        the compact form written for a whole population.
        """
        catalogue = self.catalogue
        dimensions = []
        for dimension in DIMENSIONS:
            if not include_passing and row[f"dim_{dimension}"] == PASS:
                continue
            checks = self.checks_by_dimension[dimension]
            if not include_passing:
                checks = [c for c in checks if row[c.code] != PASS]
            dimensions.append(
                {
                    "dimension": dimension,
                    "title": catalogue["dimensions"][dimension],
                    "status": row[f"dim_{dimension}"],
                    "checks": [self.check_result(c, row, compact=not include_passing) for c in checks],
                }
            )
        failed = list(row["failed_dimensions"])
        if row["visible"]:
            summary = catalogue["summary"]["visible"]
        else:
            summary = _text(
                catalogue["summary"]["hidden"],
                _Params(
                    {
                        "count": len(failed),
                        "dimensions_zh": "、".join(catalogue["dimensions"][d]["zh"] for d in failed),
                        "dimensions_en": ", ".join(catalogue["dimensions"][d]["en"] for d in failed),
                    }
                ),
            )
        tier = row.get("region_tier")
        factor = self.policy.visibility.region.line_factor.get(tier) if tier else None
        return {
            "user_id": row["user_id"],
            "visible": row["visible"],
            "as_of": self.as_of.at.isoformat(),
            "policy_version": self.policy.version,
            "policy_sha256": self.policy.sha256,
            "scorecard_sha256": row.get("credit_score_model"),
            "reason_codes": list(row["reason_codes"]),
            "failed_dimensions": failed,
            "summary": summary,
            "region_tier": tier,
            "line_factor": None if factor is None else str(factor),
            "dimensions": dimensions,
        }
