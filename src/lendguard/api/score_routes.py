"""HTTP routes of the scorecard (`/v1/score`, `/v1/users/{id}/score`): a score, its event
probability and the reasons (codes, zh, en), from the model directory `score fit` wrote
(LENDGUARD_SCORECARD, else the policy's `scoring.model` under the data directory). The model is loaded once, on first use,
and reloaded when its file changes; no model gives 503 `no_model`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from lendguard.api.errors import ServiceTime, documented, error_response
from lendguard.policy import Policy
from lendguard.scoring.apply import score_frame
from lendguard.scoring.artifact import scorecard_location, served_slot
from lendguard.scoring.scorecard import Scorecard, ScorecardError


class ScoreRowsIn(BaseModel):
    rows: list[dict[str, Any]] = Field(min_length=1, max_length=10_000, description="Applicants: feature name -> value; missing features count as missing.")


class ScoreReasonOut(BaseModel):
    code: str
    en: str
    zh: str


class ScoreOut(BaseModel):
    score: float
    bad_probability: float
    reasons: list[ScoreReasonOut]
    model: dict[str, Any]


def _documents(card: Scorecard, frame: pl.DataFrame, reason_count: int) -> list[dict]:
    scored = score_frame(card, frame, reason_count)
    about = {"target": card.target, "created_at": card.meta.get("created_at"), "policy_version": card.meta.get("policy_version")}
    documents = []
    for row in scored.iter_rows(named=True):
        reasons = [{"code": c, "en": e, "zh": z} for c, e, z in zip(row["codes"], row["reasons_en"], row["reasons_zh"], strict=True)]
        documents.append({"score": row["score"], "bad_probability": row["bad_probability"], "reasons": reasons, "model": about})
    return documents


def score_router(data_dir: Path, policy: Policy, user_features: Callable[[str, dt.datetime | None], pl.DataFrame | None]) -> APIRouter:
    router = APIRouter(tags=["scoring"], responses=documented(404, 409, 503))
    slot = served_slot(scorecard_location(policy, data_dir))
    count = policy.scoring.reason_count

    def card_or_error() -> Scorecard | JSONResponse:
        try:
            card = slot.get()
        except ScorecardError as exc:
            return error_response(503, "bad_model", str(exc))
        if card is None:
            return error_response(503, "no_model", f"no scorecard at {slot.location}: train one with `lendguard score fit --out {slot.location}`")
        return card

    @router.post("/v1/score", summary="Score applicants with the scorecard, with reasons", response_model=list[ScoreOut])
    def score_rows(body: ScoreRowsIn) -> Any:
        card = card_or_error()
        if isinstance(card, JSONResponse):
            return card
        names = [f.name for f in card.features]
        nested = [(k, n) for k, row in enumerate(body.rows) for n in names if isinstance(row.get(n), (dict, list))]
        if nested:
            details = [{"field": f"rows.{k}.{n}", "message": "a feature value is a number, a string, a boolean or null"} for k, n in nested[:20]]
            return error_response(422, "invalid_features", f"{len(nested)} feature value(s) are objects or lists", details)
        columns = {name: [row.get(name) for row in body.rows] for name in names}
        try:
            frame = pl.DataFrame({n: pl.Series(n, v, strict=False) for n, v in columns.items()})
            return _documents(card, frame, count)
        except (ScorecardError, pl.exceptions.PolarsError, TypeError, ValueError) as exc:
            return error_response(422, "invalid_features", f"the rows cannot be scored: {exc}")

    @router.get("/v1/users/{user_id}/score", summary="One user's score from their consented events, with reasons", response_model=ScoreOut)
    def score_user(user_id: str, as_of: ServiceTime | None = Query(None, description="Evaluation time (ISO 8601); default now.")) -> Any:
        card = card_or_error()
        if isinstance(card, JSONResponse):
            return card
        features = user_features(user_id, as_of)
        if features is None:
            return error_response(404, "unknown_user", f"no events for user {user_id!r}")
        try:
            return _documents(card, features, count)[0]
        except ScorecardError as exc:
            return error_response(409, "model_mismatch", f"the scorecard does not fit the engine's features: {exc}")

    return router
