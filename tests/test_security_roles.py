"""The access gate's role matrix, checked against an independent statement of who may do what.

`EXPECTED` below is written by hand from the product's intent (it is NOT read from
security/roles.toml or routes.toml): every route of the API against every role. Each cell is
then exercised through the real app (`create_app` on a copy of the synthetic population,
LENDGUARD_AUTH=on): people carry bearer tokens, the partner signs its requests. A cell that
says no must answer 403 forbidden/out_of_scope in the API's error shape; a cell that says yes
must get past the gate (404/409/422/503 from the route itself are fine).

Then the scopes: a borrower reaches its own records only, a partner its registered users and
purposes, only admins reveal personal data, partners issue borrower tokens (never staff ones),
and the server refuses to start with a route routes.toml does not map.
"""

from __future__ import annotations

import shutil
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w
from fastapi.testclient import TestClient

from lendguard.api.app import create_app, route_keys
from lendguard.identity.checks import luhn_ok
from lendguard.policy import load_policy
from lendguard.policy.loader import default_policy_path, policy_from_mapping
from lendguard.security import access
from lendguard.security.client import BearerToken, PartnerSigner
from lendguard.security.guard import token_secret
from lendguard.security.partners import (
    PartnerEntry,
    new_secret,
    registry_path,
    save_registry,
)
from lendguard.security.tokens import issue_token

pytestmark = pytest.mark.slow

ROLES = ("borrower", "partner", "risk_analyst", "reviewer", "compliance_auditor", "admin")
T0 = "2026-11-24T10:00:00+08:00"
LATER = "2026-12-04T10:00:00+08:00"
GATE_CODES = {"forbidden", "out_of_scope"}
ENV_TO_CLEAR = ("LENDGUARD_TOKEN_SECRET", "LENDGUARD_PARTNERS", "LENDGUARD_REDIS_URL", "LENDGUARD_DATABASE_URL", "LENDGUARD_POLICY")

# Who may call what. x = allowed, . = refused; "public" = anyone, even without credentials.
# Borrowers: only their own records (the scope tests below check "own"). Partners: server to
# server (ingest, visibility/offers, consents, identity, loans, review requests, borrower
# tokens). Risk analysts: decisions, scores, batch scoring, loans, review lists/report, R2
# reviews, evidence, dashboard. Reviewers: read and work reviews, read visibility/score/consents.
# Compliance auditors: access log, evidence (+verify), consents, loans, reviews, visibility,
# dashboard. Admins: everything.
#
#                                           borrower partner analyst reviewer auditor admin
TABLE = """
GET    /v1/schema/events                       .       x       x       .       .      x
POST   /v1/events                              .       x       .       .       .      x
GET    /v1/users/{user_id}/visibility          x       x       x       x       x      x
GET    /v1/users/{user_id}/offers              x       x       x       .       .      x
GET    /v1/users/{user_id}/score               x       .       x       x       .      x
POST   /v1/score                               .       .       x       .       .      x
POST   /v1/lines                               x       x       .       .       .      x
GET    /v1/lines/{line_id}                     x       x       x       .       x      x
POST   /v1/lines/{line_id}/drawdowns           x       x       .       .       .      x
POST   /v1/loans                               x       x       .       .       .      x
GET    /v1/loans/{loan_id}                     x       x       x       .       x      x
GET    /v1/loans/{loan_id}/contract            x       x       x       .       x      x
GET    /v1/loans/{loan_id}/payoff              x       x       x       .       x      x
GET    /v1/loans/{loan_id}/statement           x       x       x       .       x      x
POST   /v1/loans/{loan_id}/repayments          x       x       .       .       .      x
POST   /v1/loans/{loan_id}/write-off           .       .       .       .       .      x
GET    /v1/users/{user_id}/consents            x       x       .       x       x      x
POST   /v1/users/{user_id}/consents            x       x       .       .       .      x
GET    /v1/access-log                          .       .       .       .       x      x
GET    /v1/users/{user_id}/identity            x       x       .       .       .      x
PUT    /v1/users/{user_id}/identity            x       x       .       .       .      x
GET    /v1/evidence/head                       .       .       x       .       x      x
GET    /v1/evidence/proofs/{record_id}         .       .       x       .       x      x
GET    /v1/evidence/consistency                .       .       x       .       x      x
POST   /v1/evidence/verify                     .       .       .       .       x      x
POST   /v1/reviews                             x       x       .       .       .      x
GET    /v1/reviews                             .       .       x       x       x      x
POST   /v1/reviews/r2                          .       .       x       .       .      x
GET    /v1/reviews/report                      .       .       x       x       x      x
GET    /v1/reviews/{review_id}                 x       x       x       x       x      x
POST   /v1/reviews/{review_id}/confirm         x       x       .       .       .      x
POST   /v1/reviews/{review_id}/withdraw        x       x       .       .       .      x
POST   /v1/reviews/{review_id}/take            .       .       .       x       .      x
POST   /v1/reviews/{review_id}/verify          .       .       .       x       .      x
POST   /v1/reviews/{review_id}/decide          .       .       .       x       .      x
GET    /v1/dashboard                           .       .       x       .       x      x
POST   /v1/auth/tokens                         .       x       .       .       .      x
GET    /v1/health                              public
GET    /v1/ready                               public
GET    /metrics                                public
GET    /dashboard                              public
GET    /dashboard/static/{name}                public
"""


def _parse(table: str) -> dict[str, dict[str, bool] | None]:
    """'METHOD /path' -> {role: allowed}, or None for a public route."""
    expected: dict[str, dict[str, bool] | None] = {}
    for line in table.strip().splitlines():
        method, path, *cells = line.split()
        key = f"{method} {path}"
        assert key not in expected, f"{key} is twice in the table"
        if cells == ["public"]:
            expected[key] = None
        else:
            assert len(cells) == len(ROLES) and set(cells) <= {"x", "."}, line
            expected[key] = {role: cell == "x" for role, cell in zip(ROLES, cells, strict=True)}
    return expected


EXPECTED = _parse(TABLE)
CELLS = [(route, role) for route, row in EXPECTED.items() if row is not None for role in ROLES]
PUBLIC = [route for route, row in EXPECTED.items() if row is None]


# ---- the app -----------------------------------------------------------------------------------
def roomy_policy():
    """The default policy with a per-IP bucket no test here can empty (every TestClient
    request comes from the one host "testclient")."""
    path = default_policy_path()
    data = tomllib.loads(path.read_text())
    data["security"]["ip_rate"] = {"per_second": 10_000, "burst": 10_000}
    return policy_from_mapping(data, tomli_w.dumps(data).encode(), path)


@dataclass
class World:
    client: TestClient
    data: Path
    secret: bytes
    partners: dict[str, str]  # partner id -> its signing secret
    user: str  # the matrix's borrower: admitted, with a line, a loan and a review
    other: str  # another admitted user, with a line, a loan and a review of their own
    ids: dict[str, str] = field(default_factory=dict)

    def token(self, role: str, user_id: str | None = None) -> BearerToken:
        if role == "borrower":
            user_id = user_id or self.user
            return BearerToken(issue_token(self.secret, role="borrower", subject=f"app:{user_id}", user_id=user_id))
        return BearerToken(issue_token(self.secret, role=role, subject=f"{role}-1"))

    def partner(self, partner_id: str = "mini") -> PartnerSigner:
        return PartnerSigner(partner_id, self.partners[partner_id])

    def auth(self, role: str):
        return self.partner() if role == "partner" else self.token(role)


PARTNERS = {
    "mini": {},  # a mini-program's backend: every user, every purpose
    "narrow": {"users": ["u0000001*"]},  # reaches u00000010 .. u00000019 only
    "fraud-only": {"purposes": ["anti_fraud"]},
}


def _ok(response, *statuses: int) -> dict:
    assert response.status_code in statuses, response.text
    return response.json()


def _admitted_users(client: TestClient, auth, count: int) -> list[str]:
    found = []
    for n in range(1, 600):
        user_id = f"u{n:08d}"
        response = client.get(f"/v1/users/{user_id}/offers", auth=auth)
        if response.status_code == 200 and next(o for o in response.json() if o["product_id"] == "JB")["admitted"]:
            found.append(user_id)
            if len(found) == count:
                return found
    raise AssertionError("too few synthetic users are admitted to JB")


def _apply(client: TestClient, auth, user_id: str) -> dict:
    body = {"user_id": user_id, "product_id": "JB", "amount": "1000.00", "term_months": 3, "at": T0}
    return _ok(client.post("/v1/loans", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}, auth=auth), 201)


def _plain_reviews(client: TestClient, auth, count: int, skip: set[str]) -> list[tuple[str, str]]:
    """(user, review) of `count` users whose requested review reviewers may take at once."""
    found = []
    for n in range(40, 600):
        user_id = f"u{n:08d}"
        if user_id in skip:
            continue
        response = client.post("/v1/reviews", json={"user_id": user_id}, auth=auth)
        if response.status_code == 201 and response.json()["status"] == "requested":
            found.append((user_id, response.json()["review_id"]))
            if len(found) == count:
                return found
    raise AssertionError("too few users have a plain review")


@pytest.fixture(scope="module")
def world(population_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("security-roles") / "data"
    shutil.copytree(population_dir, data)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LENDGUARD_AUTH", "on")
        for name in ENV_TO_CLEAR:
            env.delenv(name, raising=False)
        partners = {pid: new_secret() for pid in PARTNERS}
        save_registry(registry_path(data), {pid: PartnerEntry(name=pid, secrets=[partners[pid]], **extra) for pid, extra in PARTNERS.items()})
        app = create_app(data, roomy_policy())
        with TestClient(app) as client:
            w = World(client, data, token_secret(data), partners, "", "")
            admin = w.token("admin")
            w.user, w.other = _admitted_users(client, admin, 2)
            mine, theirs = _apply(client, admin, w.user), _apply(client, admin, w.other)
            own_review = _ok(client.post("/v1/reviews", json={"user_id": w.user}, auth=admin), 201)
            other_review = _ok(client.post("/v1/reviews", json={"user_id": w.other}, auth=admin), 201)
            (_, to_take), (_, to_decide) = _plain_reviews(client, admin, 2, {w.user, w.other})
            _ok(client.post(f"/v1/reviews/{to_decide}/take", json={"reviewer": "alice"}, auth=admin), 200)
            w.ids = {
                "loan": mine["loan_id"], "line": mine["line"]["line_id"], "review": own_review["review_id"],
                "other_loan": theirs["loan_id"], "other_line": theirs["line"]["line_id"], "other_review": other_review["review_id"],
                "to_take": to_take, "to_decide": to_decide,
            }
            yield w


# ---- one plausible request per route -------------------------------------------------------------
IDEMPOTENT = {"POST /v1/lines", "POST /v1/lines/{line_id}/drawdowns", "POST /v1/loans", "POST /v1/loans/{loan_id}/repayments", "POST /v1/loans/{loan_id}/write-off"}


def request_for(w: World, route: str) -> dict:
    """Path, query, body and headers of a request a caller with the right role would make."""
    method, template = route.split(" ", 1)
    review = {"take": w.ids["to_take"], "verify": w.ids["to_decide"], "decide": w.ids["to_decide"]}.get(template.rsplit("/", 1)[-1], w.ids["review"])
    path = template.format(user_id=w.user, loan_id=w.ids["loan"], line_id=w.ids["line"], review_id=review, record_id=w.ids["loan"], name="dashboard.js")
    params = {"/v1/evidence/consistency": {"old": 0}, "/v1/evidence/proofs/{record_id}": {"kind": "loan_contract"}}.get(template)
    body = {
        "POST /v1/events": {"events": [{"event_id": "matrix-1", "user_id": w.user}]},  # rejected by the schema: 422
        "POST /v1/score": {"rows": [{}]},
        "POST /v1/lines": {"user_id": w.user, "product_id": "JB"},
        "POST /v1/lines/{line_id}/drawdowns": {"amount": "100.00", "term_months": 3, "at": T0},
        "POST /v1/loans": {"user_id": w.user, "product_id": "JB", "amount": "100.00", "term_months": 3, "at": T0},
        "POST /v1/loans/{loan_id}/repayments": {"amount": "1.00", "at": LATER},
        "POST /v1/loans/{loan_id}/write-off": {"at": LATER},
        "POST /v1/users/{user_id}/consents": {"scope": "basic_profile", "action": "grant"},
        "PUT /v1/users/{user_id}/identity": {"name": "张三"},
        "POST /v1/evidence/verify": {"bundle": {}, "record": {}},
        "POST /v1/reviews": {"user_id": w.user, "reason": "please look again"},
        "POST /v1/reviews/r2": {"user_id": w.user},
        "POST /v1/reviews/{review_id}/withdraw": {"reason": "resolved"},
        "POST /v1/reviews/{review_id}/take": {"reviewer": "alice"},
        "POST /v1/reviews/{review_id}/verify": {"reviewer": "alice", "method": "sms", "passed": True},
        "POST /v1/reviews/{review_id}/decide": {"reviewer": "alice", "outcome": "upheld"},
        "POST /v1/auth/tokens": {"role": "borrower", "user_id": w.user},
    }.get(route)
    headers = {"Idempotency-Key": uuid.uuid4().hex} if route in IDEMPOTENT else None
    return {"method": method, "url": path, "params": params, "json": body, "headers": headers}


def gate_error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def refused(response, status: int, code: str | set[str]) -> None:
    assert response.status_code == status, response.text[:500]
    error = gate_error(response)
    assert error["code"] in ({code} if isinstance(code, str) else code), error


def passes_gate(response) -> None:
    assert response.status_code not in (401, 403), response.text[:500]
    assert response.status_code < 500 or response.status_code == 503, response.text[:500]  # 503 = no scorecard


# ---- the table against the app -------------------------------------------------------------------
def test_the_table_names_every_route_and_routes_toml_no_others(world):
    documented = set(route_keys(world.client.app))
    assert documented <= set(EXPECTED), f"routes missing from this test's table: {sorted(documented - set(EXPECTED))}"
    assert set(EXPECTED) - documented == {"GET /dashboard", "GET /dashboard/static/{name}"}  # left out of the document
    assert set(access.route_rules()) == set(EXPECTED)
    assert {k for k, r in access.route_rules().items() if r.public} == set(PUBLIC)
    assert set(access.role_permissions()) == set(ROLES)


@pytest.mark.parametrize(("route", "role"), CELLS, ids=[f"{route}-{role}" for route, role in CELLS])
def test_role_matrix(world, route, role):
    allowed = EXPECTED[route][role]
    response = world.client.request(**request_for(world, route), auth=world.auth(role))
    if allowed:
        passes_gate(response)
    else:
        refused(response, 403, GATE_CODES)


@pytest.mark.parametrize("route", PUBLIC)
def test_public_routes_need_no_credentials(world, route):
    method, path = route.split(" ", 1)
    url = path.format(name="dashboard.js")
    assert world.client.request(method, url).status_code == 200
    for role in ROLES:
        passes_gate(world.client.request(method, url, auth=world.auth(role)))


def test_people_and_partners_need_credentials_on_every_other_route(world):
    for route, row in EXPECTED.items():
        if row is not None:
            refused(world.client.request(**request_for(world, route)), 401, "unauthenticated")


# ---- scopes --------------------------------------------------------------------------------------
def test_a_borrower_reaches_its_own_records_and_no_one_elses(world):
    c, mine, theirs = world.client, world.token("borrower"), world.other
    ids = world.ids
    own = [
        ("GET", f"/v1/users/{world.user}/visibility", None),
        ("GET", f"/v1/users/{world.user}/consents", None),
        ("PUT", f"/v1/users/{world.user}/identity", {"phone": "13800138000"}),
        ("GET", f"/v1/users/{world.user}/identity", None),
        ("GET", f"/v1/loans/{ids['loan']}", None),
        ("GET", f"/v1/loans/{ids['loan']}/statement", None),
        ("GET", f"/v1/lines/{ids['line']}", None),
        ("GET", f"/v1/reviews/{ids['review']}", None),
    ]
    for method, url, body in own:
        passes_gate(c.request(method, url, json=body, auth=mine))  # the matrix may have moved them on: 409s are fine
    for url in (f"/v1/loans/{ids['loan']}", f"/v1/reviews/{ids['review']}", f"/v1/users/{world.user}/identity"):
        response = c.get(url, auth=mine)
        assert response.status_code == 200 and response.json()["user_id"] == world.user, response.text[:500]
    assert c.get(f"/v1/users/{world.user}/identity", auth=mine).json()["masked"] is True

    others = [
        ("GET", f"/v1/users/{theirs}/visibility", None, None),
        ("GET", f"/v1/users/{theirs}/offers", None, None),
        ("GET", f"/v1/users/{theirs}/consents", None, None),
        ("POST", f"/v1/users/{theirs}/consents", {"scope": "basic_profile", "action": "withdraw"}, None),
        ("GET", f"/v1/users/{theirs}/identity", None, None),
        ("PUT", f"/v1/users/{theirs}/identity", {"phone": "13800138000"}, None),
        ("GET", f"/v1/loans/{ids['other_loan']}", None, None),
        ("GET", f"/v1/loans/{ids['other_loan']}/contract", None, None),
        ("POST", f"/v1/loans/{ids['other_loan']}/repayments", {"amount": "1.00", "at": LATER}, "k1"),
        ("GET", f"/v1/lines/{ids['other_line']}", None, None),
        ("POST", f"/v1/lines/{ids['other_line']}/drawdowns", {"amount": "100.00", "term_months": 3, "at": T0}, "k2"),
        ("POST", "/v1/loans", {"user_id": theirs, "product_id": "JB", "amount": "100.00", "term_months": 3, "at": T0}, "k3"),
        ("POST", "/v1/reviews", {"user_id": theirs}, None),
        ("GET", f"/v1/reviews/{ids['other_review']}", None, None),
        ("POST", f"/v1/reviews/{ids['other_review']}/withdraw", None, None),
    ]
    for method, url, body, key in others:
        response = c.request(method, url, json=body, headers={"Idempotency-Key": key} if key else None, auth=mine)
        refused(response, 403, "out_of_scope")
    # nothing of theirs changed
    assert c.get(f"/v1/reviews/{ids['other_review']}", auth=world.token("admin")).json()["status"] != "withdrawn"


def test_a_partner_reaches_only_its_registered_users(world):
    narrow = world.partner("narrow")
    refused(world.client.get("/v1/users/u00000200/visibility", auth=narrow), 403, "out_of_scope")
    passes_gate(world.client.get("/v1/users/u00000012/visibility", auth=narrow))
    refused(world.client.post("/v1/events", json={"events": [{"event_id": "e-x", "user_id": "u00000200"}]}, auth=narrow), 403, "out_of_scope")
    refused(world.client.get("/v1/schema/events", auth=narrow), 403, "out_of_scope")  # spans all users
    refused(world.client.post("/v1/auth/tokens", json={"role": "borrower", "user_id": "u00000200"}, auth=narrow), 403, "out_of_scope")
    assert world.client.post("/v1/auth/tokens", json={"role": "borrower", "user_id": "u00000012"}, auth=narrow).status_code == 201


def test_a_partner_acts_only_for_its_registered_purposes(world):
    fraud_only = world.partner("fraud-only")
    refused(world.client.get(f"/v1/users/{world.user}/visibility", auth=fraud_only), 403, "purpose_not_allowed")
    refused(world.client.get(f"/v1/users/{world.user}/consents", auth=fraud_only), 403, "purpose_not_allowed")
    refused(world.client.get(f"/v1/reviews/{world.ids['review']}", auth=fraud_only), 403, "purpose_not_allowed")
    passes_gate(world.client.post("/v1/events", json={"events": []}, auth=fraud_only))  # a route that names no purpose


def test_only_an_admin_reveals_personal_fields(world):
    c, user = world.client, world.other
    card = next(f"622202020011223344{d}" for d in "0123456789" if luhn_ok(f"622202020011223344{d}"))
    fields = {"name": "李四", "phone": "13912345678", "bank_card": card}
    assert c.put(f"/v1/users/{user}/identity", json=fields, auth=world.token("admin")).status_code == 200
    revealed = c.get(f"/v1/users/{user}/identity", params={"reveal": "true"}, auth=world.token("admin"))
    assert revealed.status_code == 200 and revealed.json()["masked"] is False
    assert revealed.json()["phone"] == fields["phone"] and revealed.json()["bank_card"] == fields["bank_card"]
    masked = c.get(f"/v1/users/{user}/identity", auth=world.partner())
    assert masked.status_code == 200 and masked.json()["masked"] is True and masked.json()["phone"] != fields["phone"]
    refused(c.get(f"/v1/users/{user}/identity", params={"reveal": "true"}, auth=world.partner()), 403, "forbidden")
    refused(c.get(f"/v1/users/{world.user}/identity", params={"reveal": "true"}, auth=world.token("borrower")), 403, "forbidden")


def test_partners_issue_borrower_tokens_for_their_users_and_never_staff_tokens(world):
    c = world.client
    issued = c.post("/v1/auth/tokens", json={"role": "borrower", "user_id": world.user}, auth=world.partner())
    assert issued.status_code == 201, issued.text
    assert issued.json()["role"] == "borrower" and issued.json()["subject"] == f"mini:{world.user}"
    session = BearerToken(issued.json()["token"])
    assert c.get(f"/v1/users/{world.user}/visibility", auth=session).status_code == 200
    refused(c.get(f"/v1/users/{world.other}/visibility", auth=session), 403, "out_of_scope")
    refused(c.get("/v1/reviews", auth=session), 403, "forbidden")
    refused(c.post("/v1/auth/tokens", json={"role": "borrower", "user_id": world.other}, auth=session), 403, "forbidden")
    for role in ("admin", "risk_analyst", "reviewer", "compliance_auditor"):
        refused(c.post("/v1/auth/tokens", json={"role": role, "subject": "mallory"}, auth=world.partner()), 403, "forbidden")
    staff = c.post("/v1/auth/tokens", json={"role": "reviewer", "subject": "bob"}, auth=world.token("admin"))
    assert staff.status_code == 201 and staff.json()["subject"] == "bob"
    assert c.get("/v1/reviews", auth=BearerToken(staff.json()["token"])).status_code == 200


@pytest.mark.parametrize("pattern", ["*", "u0000000?"])
def test_a_borrower_token_for_a_wildcard_user_id_reaches_no_one_else(world, pattern):
    c = world.client
    issued = c.post("/v1/auth/tokens", json={"role": "borrower", "user_id": pattern}, auth=world.partner())
    if issued.status_code != 201:
        return  # refusing such a user id is a fix too
    session = BearerToken(issued.json()["token"])
    refused(c.get("/v1/users/u00000005/visibility", auth=session), 403, "out_of_scope")


# ---- the table must cover every route -----------------------------------------------------------
@pytest.fixture
def fresh_rules():
    """Reload roles.toml/routes.toml around a test that points the access module elsewhere."""
    caches = (access.route_rules, access.role_permissions, access.all_permissions)
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


def test_the_server_refuses_to_start_with_a_route_routes_toml_does_not_map(tmp_path, monkeypatch, fresh_rules):
    monkeypatch.setenv("LENDGUARD_AUTH", "on")
    for name in ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    app = create_app(tmp_path / "whole", load_policy())
    keys = route_keys(app)
    assert access.uncovered_routes(keys) == []
    assert access.uncovered_routes([*keys, "GET /v1/nowhere"]) == ["GET /v1/nowhere"]

    # a route the app serves but the table leaves out is refused to everyone, even admins
    @app.get("/v1/unlisted")
    def unlisted() -> dict:
        return {}

    with TestClient(app) as client:
        admin = BearerToken(issue_token(token_secret(tmp_path / "whole"), role="admin", subject="root"))
        refused(client.get("/v1/unlisted", auth=admin), 403, "unmapped_route")

    # routes.toml without one documented route: create_app refuses
    tables = tmp_path / "tables"
    tables.mkdir()
    shutil.copy(access.HERE / "roles.toml", tables / "roles.toml")
    document = tomllib.loads((access.HERE / "routes.toml").read_text())
    del document["routes"]["GET /v1/dashboard"]
    (tables / "routes.toml").write_text(tomli_w.dumps(document))
    monkeypatch.setattr(access, "HERE", tables)
    for cached in (access.route_rules, access.role_permissions, access.all_permissions):
        cached.cache_clear()
    assert access.uncovered_routes(keys) == ["GET /v1/dashboard"]
    with pytest.raises(RuntimeError, match=r"GET /v1/dashboard"):
        create_app(tmp_path / "missing", load_policy())
