"""Who may do what: the role matrix (roles.toml), each route's permission (routes.toml) and
the pure decision whether a caller may make a request.

The decision takes the caller, the route and the users the request touches, and returns
nothing or the refusal (status, error code, message): the guard gathers those facts from
the request, this module judges them, so the whole matrix can be tested without a server.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

HERE = Path(__file__).parent
SUBJECT_KINDS = ("path", "loan", "line", "review", "body")


@dataclass(frozen=True)
class RouteRule:
    permission: str | None  # None for public routes
    purpose: str | None = None
    user: str = "none"  # where the touched user is found (routes.toml's header)
    public: bool = False

    @property
    def subject(self) -> tuple[str, str] | None:
        """("path", "user_id"), ("loan", "loan_id")... or None."""
        if self.user in ("none", "events"):
            return None
        kind, _, name = self.user.partition(":")
        return kind, name


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a partner's signed request or a person's token."""

    id: str
    role: str
    permissions: frozenset[str]  # "*" = every permission
    users: tuple[str, ...] | None = None  # fnmatch patterns; None = every user
    purposes: frozenset[str] | None = None  # None = any purpose
    kind: str = "partner"  # or "token"
    users_exact: bool = False  # a borrower: `users` is their id, matched exactly, never as a pattern

    def may(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions

    @property
    def user_scoped(self) -> bool:
        return self.users is not None and (self.users_exact or "*" not in self.users)

    def covers(self, user_id: str) -> bool:
        if self.users is None:
            return True
        return user_id in self.users if self.users_exact else any(fnmatchcase(user_id, p) for p in self.users)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str


@cache
def role_permissions() -> dict[str, frozenset[str]]:
    roles = tomllib.loads((HERE / "roles.toml").read_text())["roles"]
    return {name: frozenset(table["permissions"]) for name, table in roles.items()}


@cache
def all_permissions() -> frozenset[str]:
    """Every permission a route may name: the roles' and the admin-only ones."""
    document = tomllib.loads((HERE / "roles.toml").read_text())
    return frozenset(set().union(*role_permissions().values(), document["admin_only"]) - {"*"})


@cache
def route_rules() -> dict[str, RouteRule]:
    """'METHOD /path/{param}' -> its rule, checked for shape once."""
    rules: dict[str, RouteRule] = {}
    for key, table in tomllib.loads((HERE / "routes.toml").read_text())["routes"].items():
        rule = RouteRule(permission=table.get("permission"), purpose=table.get("purpose"), user=table.get("user", "none"), public=table.get("public", False))
        if not rule.public and not rule.permission:
            raise ValueError(f"routes.toml: {key} needs a permission or public = true")
        if rule.user not in ("none", "events") and rule.user.partition(":")[0] not in SUBJECT_KINDS:
            raise ValueError(f"routes.toml: {key}: user = {rule.user!r} is not one of none, events, {', '.join(k + ':NAME' for k in SUBJECT_KINDS)}")
        rules[key] = rule
    known = all_permissions()
    unknown = {r.permission for r in rules.values() if r.permission and r.permission not in known}
    if unknown:
        raise ValueError(f"routes.toml names permissions no role has: {sorted(unknown)}")
    return rules


def uncovered_routes(routes: list[str]) -> list[str]:
    """The app's routes ('METHOD /path') that routes.toml does not map: the server refuses to start with any."""
    rules = route_rules()
    return sorted(r for r in routes if r not in rules)


def judge(principal: Principal, rule: RouteRule, users: list[str | None]) -> Refusal | None:
    """Whether `principal` may make a request under `rule` touching `users` (None = a
    user that could not be found, e.g. an unknown loan: the route itself answers 404)."""
    if rule.public:
        return None
    assert rule.permission is not None
    if not principal.may(rule.permission):
        return Refusal(403, "forbidden", f"the role {principal.role!r} may not {rule.permission} (caller {principal.id!r})")
    if principal.purposes is not None and rule.purpose and rule.purpose not in principal.purposes:
        return Refusal(403, "purpose_not_allowed", f"{principal.id!r} is not registered for the purpose {rule.purpose!r} this route serves")
    if principal.user_scoped:
        assert principal.users is not None
        if rule.user == "none":
            return Refusal(403, "out_of_scope", f"{principal.id!r} reaches only its own users' records, and this route spans all users")
        outside = sorted({u for u in users if u is not None and not principal.covers(u)})
        if outside:
            shown = ", ".join(outside[:5]) + (" ..." if len(outside) > 5 else "")
            return Refusal(403, "out_of_scope", f"{principal.id!r} may not reach the records of user(s) {shown}")
    return None
