"""The risk team's dashboard: the page (`GET /dashboard`), its script, style and the Plotly
bundle that ships inside the `plotly` package (`GET /dashboard/static/{name}`, nothing from
a CDN: the dashboard must work on a machine without internet), and its data
(`GET /v1/dashboard`). The page holds no data; it carries the analyst's bearer token on
every request it makes, so the data route is guarded like any other /v1 route."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec
from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from lendguard.api.errors import error_response
from lendguard.dashboard.data import dashboard_data
from lendguard.policy import Policy

PAGE_HEADERS = {
    # The page runs only its own script; Plotly sets inline styles. The token never leaves
    # for another origin (no referrer, no frames around the page).
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def static_files() -> dict[str, tuple[Path, str, str]]:
    """name -> (file, media type, cache policy): the only files the static route serves."""
    own = Path(str(resources.files("lendguard.dashboard").joinpath("static")))
    plotly = Path(str(resources.files("plotly").joinpath("package_data", "plotly.min.js")))
    return {
        "dashboard.js": (own / "dashboard.js", "text/javascript; charset=utf-8", "no-cache"),
        "dashboard.css": (own / "dashboard.css", "text/css; charset=utf-8", "no-cache"),
        "plotly.min.js": (plotly, "text/javascript; charset=utf-8", "public, max-age=86400"),
    }


class Message(BaseModel):
    en: str
    zh: str


class SectionOut(BaseModel):
    """A section: `ok` with its numbers, `empty` (nothing stored yet, the message says what
    makes it) or `error` (the part could not be computed; the other sections still load)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["ok", "empty", "error"]
    message: Message | None = None


class SectionsOut(BaseModel):
    population: SectionOut = Field(description="Share visible, failures per dimension, the funnel of the eight dimensions, top reasons, by region tier and province.")
    funnel: SectionOut = Field(description="Exposure → registration → authorization → approval → line opened, each step with its definition.")
    authorization: SectionOut = Field(description="The refusal rate of the optional deep credit query, and every consent layer's grants in force.")
    scores: SectionOut = Field(description="The served scorecard's score distribution over the population, PSI of the score and CSI per feature.")
    fraud: SectionOut = Field(description="Users per risk level, transitions by rule (recent and in total, per day), the newest transitions, rings.")
    reviews: SectionOut = Field(description="The human-review queue: by status and kind, overdue reviews, the team's override rate.")
    portfolio: SectionOut = Field(description="The loan book: totals, loans and principal per delinquency bucket, the overdue rate.")
    compliance: SectionOut = Field(description="Findings of the self-audit of our own products (`lendguard audit --own`).")


class PolicyRef(BaseModel):
    version: str
    sha256: str


class DashboardOut(BaseModel):
    generated_at: str
    as_of: str = Field(description="The moment the numbers describe: the last evaluation's, else the synthetic population's, else now.")
    synthetic: bool
    policy: PolicyRef
    seconds: float = Field(description="Time spent computing this answer (cached parts cost almost nothing).")
    sections: SectionsOut


def dashboard_router(data_dir: Path, policy: Policy) -> APIRouter:
    router = APIRouter()
    files = static_files()
    page = Path(str(resources.files("lendguard.dashboard").joinpath("static", "dashboard.html")))

    @router.get("/dashboard", include_in_schema=False)
    def dashboard_page() -> Response:
        return FileResponse(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    @router.get("/dashboard/static/{name}", include_in_schema=False)
    def dashboard_static(name: str) -> Response:
        if name not in files:
            return error_response(404, "not_found", f"no dashboard file {name!r}")
        path, media_type, cache = files[name]
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff"})

    @router.get(
        "/v1/dashboard",
        tags=["dashboard"],
        summary="The risk dashboard's data: every section, computed from the data directory",
        response_model=DashboardOut,
        responses={200: {"description": "Every section; a part with nothing stored yet is `empty` with a message, never an error status."}},
    )
    def dashboard() -> Response:
        """Population visibility, the conversion funnel, the authorization refusal rate, score
        drift, fraud alerts and rings, the review queue, the loan book and compliance findings
        (definitions in docs/dashboard.md). Expensive parts are cached until their files change."""
        return Response(msgspec.json.encode(dashboard_data(data_dir, policy)), media_type="application/json")

    return router


