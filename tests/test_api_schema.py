"""Property-based tests of the whole HTTP API against its own OpenAPI document (schemathesis).

Every documented operation gets generated requests (valid ones and invalid ones), sent
in-process to the real app (`create_app`) on a copy of the synthetic population (with a
scorecard trained on it, so the scoring routes score instead of answering 503 no_model),
with the access gate ON and every request carrying an admin's Bearer token. Each response:

* is not a server error: no 5xx for any input (`not_a_server_error`; in-process an unhandled
  exception propagates out of the app instead of becoming the 500 a real server would send);
* conforms to the schema the document gives its status code (`response_schema_conformance`),
  and any 4xx/5xx whose documented model is ErrorResponse, or whose status is not documented
  at all, is an ErrorResponse {"error": {"code", "message", "details"}} (`errors_use_the_error_model`);
* carries a status code the document lists for its operation (`status_code_conformance`: the
  document does list them, 400/401/403/422/429/500 for every operation plus each route's own).

The requests are generated from the document the app serves at /openapi.json. It is loaded at
import, from an app on an empty scratch dir (the document depends on the code, not the data),
so that each operation is its own test item xdist can spread; the fixture checks that the app
under test serves the very same document.

Real bugs found are in KNOWN_BUGS. Each has explicit reproductions (the requests that show it)
marked xfail(strict=True), and the property tests tolerate exactly its answers (that status on
that operation, that error code, that exception) and nothing else, so they still catch any new
failure on the same operations. When a bug is fixed its reproductions XPASS, which fails the
run (strict): then delete its entry.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

# Per operation and per test: the file takes about 45 s of CPU, under a minute on 2 idle cores.
MAX_EXAMPLES = int(os.environ.get("LENDGUARD_SCHEMA_EXAMPLES", "10"))
ISOLATED = ("LENDGUARD_SCORECARD", "LENDGUARD_DATABASE_URL", "LENDGUARD_REDIS_URL", "LENDGUARD_PARTNERS", "LENDGUARD_TOKEN_SECRET", "LENDGUARD_POLICY")


def _document() -> dict:
    """The app's OpenAPI document (it depends on the code only, not on the data or settings)."""
    from lendguard.api.app import create_app

    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as env:
        for name in ISOLATED:
            env.delenv(name, raising=False)
        return create_app(Path(scratch) / "data").openapi()


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
# No operation is excluded: on this copy of the population no generated request (events,
# loans, consents, identities, reviews, tokens, evidence) leaves the data dir in a state that
# breaks the requests after it; they only add records that later requests may read.

ERROR_MODEL = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/ErrorResponse", "components": DOCUMENT["components"]})
ALL_CHECKS = "server_error", "body", "status"


# ---- the bugs found ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Repro:
    operation: str  # "METHOD /path", as schemathesis labels it
    request: dict  # Case(...) arguments: path_parameters, query, headers, body
    app: str = "served"  # or "bare": no scorecard, the limits store (Redis) on a closed port


@dataclasses.dataclass(frozen=True)
class Bug:
    key: str
    what: str  # where, the failing input, what it should do
    check: str  # "server_error" (a 5xx), "body" (a body off its documented schema) or "status" (an undocumented status)
    answers: dict  # operation -> the statuses ("status"), error codes ("body") or exception texts ("server_error") it gives
    reproductions: tuple[Repro, ...]


KEY = {"Idempotency-Key": "schema-repro"}
NEAR_MIN, NEAR_MAX, NAIVE_MIN = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00"
LOAN_BODY = {"user_id": "u00000001", "product_id": "JB", "amount": "1000.00", "term_months": 3}
OUT_OF_RANGE = ("date value out of range", "year 0 is out of range", "year 10000 is out of range")

# Bugs this file found that are fixed: their reproductions are now regression tests.
FIXED = {"extreme_datetimes", "events_422_model", "loan_statuses", "score_statuses", "identity_404", "ready_503"}

KNOWN_BUGS: tuple[Bug, ...] = (
    Bug(
        "extreme_datetimes",
        "500 internal_error for an as_of/at/on datetime near the ends of Python's range (an OverflowError or "
        "ValueError escapes instead of a 422): features/window.py:59 AsOf.local_hour (as_of within the look-back "
        "window of 0001-01-01), window.py:40 local_date (as_of 9999-12-31T23:59:59Z), window.py:29 AsOf.of (naive "
        "as_of 0001-01-01T00:00:00), loans/schedule.py:76 add_months (year 10000: offers/loans at 9999-12-xx), "
        "loans/book.py:137 business_date (naive at/on 0001-01-01T00:00:00, before the loan is even looked up). "
        "Expected: 422 invalid_request naming the field, e.g. by bounding the datetime inputs to a sane range.",
        "server_error",
        {
            op: OUT_OF_RANGE
            for op in (
                "GET /v1/users/{user_id}/visibility", "GET /v1/users/{user_id}/offers", "GET /v1/users/{user_id}/score",
                "POST /v1/loans", "POST /v1/lines/{line_id}/drawdowns", "GET /v1/loans/{loan_id}/payoff",
                "GET /v1/loans/{loan_id}/statement", "POST /v1/loans/{loan_id}/repayments", "POST /v1/loans/{loan_id}/write-off",
            )
        },
        (
            Repro("GET /v1/users/{user_id}/visibility", {"path_parameters": {"user_id": "u00000001"}, "query": {"as_of": NEAR_MIN}}),
            Repro("GET /v1/users/{user_id}/visibility", {"path_parameters": {"user_id": "u00000001"}, "query": {"as_of": NEAR_MAX}}),
            Repro("GET /v1/users/{user_id}/visibility", {"path_parameters": {"user_id": "u00000001"}, "query": {"as_of": NAIVE_MIN}}),
            Repro("GET /v1/users/{user_id}/offers", {"path_parameters": {"user_id": "u00000001"}, "query": {"as_of": "9999-12-01T00:00:00Z"}}),
            Repro("GET /v1/users/{user_id}/score", {"path_parameters": {"user_id": "u00000001"}, "query": {"as_of": NEAR_MIN}}),
            # A user with no line yet (with one, the loan is drawn at year 1 without a word: see test_the_409s_are_real's user).
            Repro("POST /v1/loans", {"headers": KEY, "body": {**LOAN_BODY, "user_id": "u00000005", "at": NEAR_MIN}}),
            Repro("POST /v1/lines/{line_id}/drawdowns", {"path_parameters": {"line_id": "nope"}, "headers": KEY, "body": {"amount": "500.00", "term_months": 3, "at": NAIVE_MIN}}),
            Repro("GET /v1/loans/{loan_id}/payoff", {"path_parameters": {"loan_id": "nope"}, "query": {"on": NAIVE_MIN}}),
            Repro("GET /v1/loans/{loan_id}/statement", {"path_parameters": {"loan_id": "nope"}, "query": {"on": NAIVE_MIN}}),
            Repro("POST /v1/loans/{loan_id}/repayments", {"path_parameters": {"loan_id": "nope"}, "headers": KEY, "body": {"amount": "5.00", "at": NAIVE_MIN}}),
            Repro("POST /v1/loans/{loan_id}/write-off", {"path_parameters": {"loan_id": "nope"}, "headers": KEY, "body": {"at": NAIVE_MIN}}),
        ),
    ),
    Bug(
        "events_422_model",
        "POST /v1/events documents its 422 as an IngestResponse, but a body that is not a batch answers 422 with an "
        "ErrorResponse (code invalid_batch, api/app.py post_events: `_error(422, \"invalid_batch\", ...)`), which the "
        "document does not allow. Expected: the 422 documented as IngestResponse | ErrorResponse (anyOf), or the "
        "malformed batch answered with a documented status and model.",
        "body",
        {"POST /v1/events": ("invalid_batch",)},
        (
            Repro("POST /v1/events", {"body": {"events": "not a list"}}),
            Repro("POST /v1/events", {"body": {"events": [], "extra": 1}}),
        ),
    ),
    Bug(
        "loan_statuses",
        "The loan routes (api/loan_routes.py) answer 404 (unknown_product, unknown_user, unknown_line, unknown_loan) "
        "and 409 (line_exists, line_not_open, backdated, loan_closed, idempotency_busy: LedgerError statuses in "
        "loans/book.py and loans/service.py) but document neither: every loan route lists only 2xx, 400, 401, 403, "
        "422, 429, 500. Expected: `responses={404: ..., 409: ...}` (ErrorResponse) on the routes that give them.",
        "status",
        {
            "GET /v1/users/{user_id}/offers": (404,),
            "POST /v1/lines": (404, 409),
            "GET /v1/lines/{line_id}": (404,),
            "POST /v1/lines/{line_id}/drawdowns": (404, 409),
            "POST /v1/loans": (404, 409),
            "GET /v1/loans/{loan_id}": (404,),
            "GET /v1/loans/{loan_id}/contract": (404,),
            "GET /v1/loans/{loan_id}/payoff": (404, 409),
            "GET /v1/loans/{loan_id}/statement": (404, 409),
            "POST /v1/loans/{loan_id}/repayments": (404, 409),
            "POST /v1/loans/{loan_id}/write-off": (404, 409),
        },
        (
            Repro("GET /v1/users/{user_id}/offers", {"path_parameters": {"user_id": "nobody"}}),
            Repro("POST /v1/lines", {"headers": KEY, "body": {"user_id": "u00000001", "product_id": "NOPE"}}),
            Repro("GET /v1/lines/{line_id}", {"path_parameters": {"line_id": "nope"}}),
            Repro("POST /v1/lines/{line_id}/drawdowns", {"path_parameters": {"line_id": "nope"}, "headers": KEY, "body": {"amount": "500.00", "term_months": 3}}),
            Repro("POST /v1/loans", {"headers": KEY, "body": {**LOAN_BODY, "product_id": "NOPE"}}),
            Repro("GET /v1/loans/{loan_id}", {"path_parameters": {"loan_id": "nope"}}),
            Repro("GET /v1/loans/{loan_id}/contract", {"path_parameters": {"loan_id": "nope"}}),
            Repro("GET /v1/loans/{loan_id}/payoff", {"path_parameters": {"loan_id": "nope"}}),
            Repro("GET /v1/loans/{loan_id}/statement", {"path_parameters": {"loan_id": "nope"}}),
            Repro("POST /v1/loans/{loan_id}/repayments", {"path_parameters": {"loan_id": "nope"}, "headers": KEY, "body": {"amount": "5.00"}}),
            Repro("POST /v1/loans/{loan_id}/write-off", {"path_parameters": {"loan_id": "nope"}, "headers": KEY, "body": {}}),
        ),
    ),
    Bug(
        "score_statuses",
        "The scoring routes (api/score_routes.py) answer 503 no_model/bad_model (no or a corrupt scorecard), "
        "GET /v1/users/{user_id}/score also 404 unknown_user and 409 model_mismatch, none of them documented. "
        "Expected: those statuses in the routes' `responses` (ErrorResponse), as GET .../visibility documents its 404 and 503.",
        "status",
        {"POST /v1/score": (503,), "GET /v1/users/{user_id}/score": (404, 409, 503)},
        (
            Repro("GET /v1/users/{user_id}/score", {"path_parameters": {"user_id": "nobody"}}),
            Repro("POST /v1/score", {"body": {"rows": [{}]}}, app="bare"),
            Repro("GET /v1/users/{user_id}/score", {"path_parameters": {"user_id": "u00000001"}}, app="bare"),
        ),
    ),
    Bug(
        "identity_404",
        "GET /v1/users/{user_id}/identity answers 404 unknown_identity for a user with no personal data "
        "(api/identity_routes.py get_identity) but documents no 404. Expected: `responses={404: ErrorResponse}`.",
        "status",
        {"GET /v1/users/{user_id}/identity": (404,)},
        (Repro("GET /v1/users/{user_id}/identity", {"path_parameters": {"user_id": "nobody"}}),),
    ),
    Bug(
        "ready_503",
        "GET /v1/ready answers 503 with an ErrorResponse (code not_ready) when a store does not answer "
        "(api/operations.py ready) but documents only 200 (with an empty schema) and the common codes. "
        "Expected: `responses={503: {'model': ErrorResponse}}` on the route.",
        "status",
        {"GET /v1/ready": (503,)},
        (Repro("GET /v1/ready", {}, app="bare"),),
    ),
)


def _documented(operation: str) -> dict:
    method, path = operation.split(" ", 1)
    return DOCUMENT["paths"][path][method.lower()]["responses"]


def _error_code(response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _tolerated(check: str, operation: str, answer) -> Bug | None:
    """The known bug that gives `answer` on `operation`, if one does (fixed ones are not tolerated)."""
    for bug in KNOWN_BUGS:
        if bug.key not in FIXED and bug.check == check and answer in bug.answers.get(operation, ()):
            return bug
    return None


# ---- the checks --------------------------------------------------------------------------------
def errors_use_the_error_model(ctx, response, case) -> None:
    """A 4xx or 5xx is an ErrorResponse, unless the document gives its status another model
    (POST /v1/events documents its 422 as an IngestResponse): response_schema_conformance
    judges those."""
    if response.status_code < 400 or _tolerated("body", case.operation.label, _error_code(response)):
        return None
    documented = _documented(case.operation.label).get(str(response.status_code))
    if documented is not None:
        model = documented.get("content", {}).get("application/json", {}).get("schema", {})
        if model.get("$ref") != "#/components/schemas/ErrorResponse":
            return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"{response.status_code} with a body that is not JSON: {response.text[:300]!r}") from None
    try:
        ERROR_MODEL.validate(body)
    except jsonschema_rs.ValidationError as exc:
        raise AssertionError(f"{response.status_code} is not an ErrorResponse ({exc.message}): {response.text[:300]!r}") from None
    return None


def schema_conformance(ctx, response, case) -> None:
    """response_schema_conformance, but for a known bug's exact answer."""
    if response.status_code >= 400 and _tolerated("body", case.operation.label, _error_code(response)):
        return None
    return response_schema_conformance(ctx, response, case)


def documented_status(ctx, response, case) -> None:
    """status_code_conformance, but for a known bug's exact answer."""
    if _tolerated("status", case.operation.label, response.status_code):
        return None
    return status_code_conformance(ctx, response, case)


def _call(case, app, auth):
    """The response, or None when the app raised (its 500) exactly as a known bug does."""
    try:
        return case.call(app=app, headers=auth)
    except (OverflowError, ValueError) as exc:
        if _tolerated("server_error", case.operation.label, str(exc)):
            return None
        raise


# ---- the apps ----------------------------------------------------------------------------------
def _roomy(policy):
    """The policy with rate limits no test run reaches: one client sends every generated
    request as fast as it can, and a 429 (documented, and tested in tests/test_security_*)
    would only hide the routes behind it."""
    from lendguard.policy.security import RateLimit

    roomy = RateLimit(per_second=100_000, burst=100_000)
    security = policy.document.security.model_copy(update={"ip_rate": roomy, "partner_rate": roomy})
    return dataclasses.replace(policy, document=policy.document.model_copy(update={"security": security}))


@pytest.fixture(scope="module", autouse=True)
def _isolated():
    """No setting of the engineer's shell reaches these apps (some are read per request)."""
    with pytest.MonkeyPatch.context() as env:
        for name in ISOLATED:
            env.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def served(population_dir, tmp_path_factory):
    """The real app on a copy of the population with a trained scorecard, the gate on, and an
    admin's Authorization header."""
    from lendguard.api.app import create_app
    from lendguard.policy import load_policy
    from lendguard.security.guard import token_secret
    from lendguard.security.tokens import issue_token

    data = tmp_path_factory.mktemp("schema") / "data"
    shutil.copytree(population_dir, data)
    environment = {k: v for k, v in os.environ.items() if k not in ISOLATED}
    subprocess.run(
        [sys.executable, "-m", "lendguard.cli.main", "score", "fit", "--dataset", "synthetic", "--no-challenger", "-d", str(data), "--out", str(data / "model")],
        check=True, capture_output=True, env=environment,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LENDGUARD_AUTH", "on")
        app = create_app(data, _roomy(load_policy()))
    assert app.openapi() == DOCUMENT
    token = issue_token(token_secret(data), role="admin", subject="schema-test")
    return app, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def bare(population_dir, tmp_path_factory):
    """An app with no scorecard and its limits store (Redis) on a closed port, for the
    answers of a service missing a store. Its gate is off: with the limits store down the
    gate cannot count requests, and these reproductions are about the document."""
    from lendguard.api.app import create_app
    from lendguard.policy import load_policy

    data = tmp_path_factory.mktemp("bare") / "data"
    shutil.copytree(population_dir, data)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LENDGUARD_AUTH", "off")
        env.setenv("LENDGUARD_REDIS_URL", "redis://127.0.0.1:1/0")
        app = create_app(data, load_policy())
    assert app.openapi() == DOCUMENT
    return app, {}


# ---- the tests ---------------------------------------------------------------------------------
# Derandomized and without an example database: the same requests on every run and machine.
SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck), print_blob=True)


@schema.parametrize()
@SETTINGS
def test_no_server_error_and_every_body_conforms(case, served):
    app, auth = served
    response = _call(case, app, auth)
    if response is not None:
        case.validate_response(response, checks=[not_a_server_error, schema_conformance, errors_use_the_error_model], headers=auth, transport_kwargs={"app": app})


@schema.parametrize()
@SETTINGS
def test_every_status_code_is_documented(case, served):
    app, auth = served
    response = _call(case, app, auth)
    if response is not None:
        case.validate_response(response, checks=[documented_status], headers=auth, transport_kwargs={"app": app})


def test_the_gate_is_on(served):
    """The runs above are authenticated for real: without the token the same app refuses."""
    from schemathesis.python.asgi import get_client

    app, auth = served
    with get_client(app) as client:
        refused = client.get("/v1/users/u00000001/visibility")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"
        assert client.get("/v1/users/u00000001/visibility", headers=auth).status_code == 200


def test_the_409s_are_real(served):
    """The loan 409s KNOWN_BUGS tolerates are answers the routes really give (here a second line
    on the same product), and the document lists them (bug loan_statuses, fixed)."""
    from schemathesis.python.asgi import get_client

    app, auth = served
    with get_client(app) as client:
        body = {"user_id": "u00000001", "product_id": "JB"}
        client.post("/v1/lines", json=body, headers={**auth, "Idempotency-Key": "line-1"})
        again = client.post("/v1/lines", json=body, headers={**auth, "Idempotency-Key": "line-2"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "line_exists"
    assert "409" in _documented("POST /v1/lines")


CHECKS = {
    "server_error": [not_a_server_error, errors_use_the_error_model],
    "body": [response_schema_conformance],
    "status": [status_code_conformance],
}
EXPECTED_FAILURE = {"server_error": (OverflowError, ValueError, FailureGroup), "body": FailureGroup, "status": FailureGroup}


@pytest.mark.parametrize(
    ("bug", "repro"),
    [
        pytest.param(
            bug, repro, id=f"{bug.key}:{repro.operation}:{n}",
            marks=() if bug.key in FIXED else pytest.mark.xfail(strict=True, raises=EXPECTED_FAILURE[bug.check], reason=bug.what),
        )
        for bug in KNOWN_BUGS
        for n, repro in enumerate(bug.reproductions)
    ],
)
def test_known_bug(bug, repro, request):
    """Each reproduction answers as the document says (a regression test once its bug is FIXED)."""
    app, auth = request.getfixturevalue(repro.app)
    method, path = repro.operation.split(" ", 1)
    arguments = dict(repro.request)
    if "Idempotency-Key" in arguments.get("headers", {}):  # a key of its own: a used one replays its first answer
        arguments["headers"] = {**arguments["headers"], "Idempotency-Key": uuid.uuid4().hex}
    case = schema[path][method].Case(**arguments)
    response = case.call(app=app, headers=auth)  # raises the 500's exception in-process
    case.validate_response(response, checks=CHECKS[bug.check], headers=auth, transport_kwargs={"app": app})
