"""Fund-flow graph analysis (SPEC §3): rings and cash-out gangs around flagged accounts.

Pure: from transfer/red-packet rows and login rows it builds one undirected graph of
accounts (users and the counterparties they pay, merchants included), linked by money
moved between them and by devices they share. A connected component holding flagged
accounts is a candidate ring: cut at its bridges (a ring holds by more than one link),
a piece too large or too sparse to be a ring is split into communities (Leiden,
recursively) and the dense ones around flagged accounts are kept. Members get a
`graph_ring` signal with the ring as evidence; the risk book decides what it does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import igraph
import polars as pl

from lendguard.fraud.signals import Signal
from lendguard.policy import Policy

RULE_ID = "graph_ring"
EVIDENCE_EDGES = 20  # the heaviest links a ring's evidence lists (a reviewer reads them)
SHOWN_DEVICES = 3  # device ids named per link in the evidence
_SEED = 20260101  # Leiden is randomised; a fixed seed makes a rerun find the same rings

RingKind = Literal["fund_flow", "device_sharing", "mixed"]

EDGE_SCHEMA = pl.Schema(
    {"a": pl.String, "b": pl.String, "transfers": pl.UInt32, "amount": pl.Float64, "devices": pl.List(pl.String)}
)


@dataclass(frozen=True)
class GraphRules:
    """Thresholds of the graph job (policy `[fraud.graph]`).

    - `min_members` (3): fewer accounts than this are a pair of friends, not a ring.
    - `max_members` (50): a group larger than this is split into communities; a
      device used by more users than this is a shared terminal and links no one.
    - `min_density` (0.3): links present / links possible (a 6-account cycle is 0.4);
      a sparser group is split into communities.
    - `min_flagged` (1): members already at R2/R3 a ring needs to be reported.
    - `level` ("R2"): the risk level a ring raises for its members.
    - `lookback_days` (90): the days of events before the as-of time the job reads.
    """

    min_members: int = 3
    max_members: int = 50
    min_density: float = 0.3
    min_flagged: int = 1
    level: str = "R2"
    lookback_days: int = 90

    @classmethod
    def from_policy(cls, policy: Policy) -> GraphRules:
        return cls(**policy.fraud.graph.model_dump())


@dataclass(frozen=True)
class Ring:
    """A group of accounts moving money among themselves or sharing devices."""

    ring_id: str  # from the sorted members: the same group found again has the same id
    kind: RingKind
    members: tuple[str, ...]  # sorted; users and plain accounts (merchants, cards)
    flagged: tuple[str, ...]  # members already flagged
    users: tuple[str, ...]  # members that are users: the ones a signal goes to
    edges: int
    density: float
    amount: float  # money moved along the ring's links
    evidence: tuple[str, ...]  # the heaviest links, described
    links: tuple[tuple[str, str], ...]  # every link inside the ring (for drawing)

    @property
    def size(self) -> int:
        return len(self.members)


def ring_id(members: list[str] | tuple[str, ...]) -> str:
    return "ring-" + hashlib.sha256("\n".join(sorted(members)).encode()).hexdigest()[:16]


# --- the graph -------------------------------------------------------------------------------


def transfer_edges(transfers: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """(a, b, transfers, amount) per pair of accounts, a < b.

    Sender and receiver may both report the same flow (one "out", one "in" row): per
    direction the larger of the two reports counts, so a flow is never counted twice.
    """
    out = pl.col("direction") == "out"
    flows = (
        transfers.lazy()
        .select(
            sender=pl.when(out).then("user_id").otherwise("counterparty"),
            receiver=pl.when(out).then("counterparty").otherwise("user_id"),
            reporter=pl.col("user_id"),
            amount=pl.col("amount").cast(pl.Float64),
        )
        .filter(pl.col("sender") != pl.col("receiver"))
        .group_by("sender", "receiver", "reporter")
        .agg(transfers=pl.len(), amount=pl.col("amount").sum())
        .group_by("sender", "receiver")
        .agg(pl.col("transfers").max(), pl.col("amount").max())
    )
    return (
        flows.select(
            a=pl.min_horizontal("sender", "receiver"),
            b=pl.max_horizontal("sender", "receiver"),
            transfers=pl.col("transfers").cast(pl.UInt32),
            amount="amount",
        )
        .group_by("a", "b")
        .agg(pl.col("transfers").sum(), pl.col("amount").sum())
    )


def device_edges(logins: pl.DataFrame | pl.LazyFrame, max_users: int) -> pl.LazyFrame:
    """(a, b, devices) per pair of users who logged in on the same device, a < b.

    A device seen with more than `max_users` users (a shop's tablet, an internet café)
    links no one: it would join strangers, and a farm that large is the streaming
    device rule's to catch.
    """
    pairs = logins.lazy().select("device_id", "user_id").unique()
    shared = pairs.filter(pl.len().over("device_id").is_between(2, max_users))
    return (
        shared.join(shared, on="device_id", suffix="_b")
        .filter(pl.col("user_id") < pl.col("user_id_b"))
        .group_by(a=pl.col("user_id"), b=pl.col("user_id_b"))
        .agg(devices=pl.col("device_id").unique().sort())
    )


def graph_edges(transfers: pl.DataFrame | pl.LazyFrame, logins: pl.DataFrame | pl.LazyFrame, rules: GraphRules) -> pl.DataFrame:
    """Both graphs as one edge list: (a, b, transfers, amount, devices), sorted."""
    money = transfer_edges(transfers)
    devices = device_edges(logins, rules.max_members)
    return (
        money.join(devices, on=["a", "b"], how="full", coalesce=True)
        .with_columns(
            pl.col("transfers").fill_null(0),
            pl.col("amount").fill_null(0.0),
            pl.col("devices").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        )
        .select(EDGE_SCHEMA.names())
        .cast(dict(EDGE_SCHEMA))
        .sort("a", "b")
        .collect()
    )


def build_graph(edges: pl.DataFrame) -> igraph.Graph:
    """An undirected igraph of the edge list; vertices named by account, in sorted order.

    An edge weighs its number of transfers plus its number of shared devices: counts,
    not money, so for the communities one large payment is one tie, as one shared phone is.
    """
    nodes = pl.concat([edges["a"], edges["b"]]).unique().sort().to_frame("name").with_row_index("id")
    ids = (
        edges.join(nodes.rename({"name": "a", "id": "ia"}), on="a")
        .join(nodes.rename({"name": "b", "id": "ib"}), on="b")
        .sort("ia", "ib")
    )
    graph = igraph.Graph(n=nodes.height, edges=list(zip(ids["ia"].to_list(), ids["ib"].to_list())))
    graph.vs["name"] = nodes["name"].to_list()
    graph.es["transfers"] = ids["transfers"].to_list()
    graph.es["amount"] = ids["amount"].to_list()
    graph.es["devices"] = ids["devices"].to_list()
    graph.es["weight"] = (ids["transfers"].cast(pl.Float64) + ids["devices"].list.len()).to_list()
    return graph


# --- rings -----------------------------------------------------------------------------------


def find_rings(
    transfers: pl.DataFrame | pl.LazyFrame,
    logins: pl.DataFrame | pl.LazyFrame,
    flagged: set[str],
    rules: GraphRules,
    users: pl.DataFrame | pl.LazyFrame | None = None,
) -> list[Ring]:
    """Rings around `flagged` accounts, largest first.

    `users` (a frame with a user_id column, e.g. the store's registry) tells users from
    plain accounts; by default every user_id of `transfers` and `logins` is a user.
    """
    edges = graph_edges(transfers, logins, rules)
    if edges.is_empty():
        return []
    graph = build_graph(edges)
    groups = list(_candidate_groups(graph, flagged, rules))
    names = graph.vs["name"]
    if users is None:
        users = pl.concat([transfers.lazy().select("user_id"), logins.lazy().select("user_id")])
    candidates = sorted({names[v] for group in groups for v in group})
    known = set(users.lazy().select("user_id").filter(pl.col("user_id").is_in(candidates)).collect()["user_id"])
    rings = [_describe(graph.induced_subgraph(group), flagged, known) for group in groups]
    kept = [r for r in rings if _passes(r, rules)]
    return sorted(kept, key=lambda r: (-r.size, -r.amount, r.ring_id))


def _candidate_groups(graph: igraph.Graph, flagged: set[str], rules: GraphRules) -> Iterator[list[int]]:
    """Vertex ids of each component around flagged accounts, split while too large or sparse."""
    flagged_ids = {v.index for v in graph.vs.select(name_in=flagged)}
    components = graph.connected_components()
    for component in sorted({components.membership[v] for v in flagged_ids}):
        yield from _split(graph, components[component], flagged_ids, rules)


def _split(graph: igraph.Graph, vids: list[int], flagged_ids: set[int], rules: GraphRules) -> Iterator[list[int]]:
    """The group's pieces that can be one ring; a piece too large or too sparse is split
    into its Leiden communities, each treated in turn."""
    for piece in _without_bridges(graph, vids):
        if len(flagged_ids.intersection(piece)) < rules.min_flagged:
            continue
        if len(piece) <= rules.max_members and _density(graph.induced_subgraph(piece)) >= rules.min_density:
            yield piece
            continue
        with _seeded():
            parts = graph.induced_subgraph(piece).community_leiden(objective_function="modularity", weights="weight", n_iterations=-1)
        if len(parts) < 2:
            continue  # one community, yet too large or too sparse for a ring: left to the streaming rules
        for part in parts:
            yield from _split(graph, [piece[i] for i in part], flagged_ids, rules)


def _without_bridges(graph: igraph.Graph, vids: list[int]) -> list[list[int]]:
    """The group cut at its bridges (links whose removal disconnects it).

    A ring holds together by more than one link: an account hanging off it by a single
    payment or shared phone is a contact of the ring, not a member (a direct payment to
    a flagged account is the streaming rule's to judge). Modularity communities also
    tend to absorb a small neighbouring cluster through one link; this cuts it off.
    """
    vids = sorted(vids)  # induced subgraphs number vertices in id order
    sub = graph.induced_subgraph(vids)
    sub.delete_edges(sub.bridges())
    return [[vids[i] for i in piece] for piece in sub.connected_components()]


def _density(graph: igraph.Graph) -> float:
    return graph.density() if graph.vcount() > 1 else 0.0


@contextmanager
def _seeded() -> Iterator[None]:
    """igraph's random numbers from a fixed seed for one call (igraph's generator is global)."""
    igraph.set_random_number_generator(random.Random(_SEED))
    try:
        yield
    finally:
        igraph.set_random_number_generator(random)


def _describe(ring: igraph.Graph, flagged: set[str], users: set[str]) -> Ring:
    names = ring.vs["name"]
    members = tuple(sorted(names))
    links = sorted(((*sorted((names[e.source], names[e.target])), e) for e in ring.es), key=lambda link: link[:2])
    transfers = sum(ring.es["transfers"])
    shared = sum(len(d) for d in ring.es["devices"])
    kind: RingKind = "mixed" if transfers and shared else ("fund_flow" if transfers else "device_sharing")
    heaviest = sorted(links, key=lambda link: -link[2]["weight"])[:EVIDENCE_EDGES]
    return Ring(
        ring_id=ring_id(members),
        kind=kind,
        members=members,
        flagged=tuple(m for m in members if m in flagged),
        users=tuple(m for m in members if m in users),
        edges=ring.ecount(),
        density=_density(ring),
        amount=round(sum(ring.es["amount"]), 2),
        evidence=tuple(_link_text(a, b, edge) for a, b, edge in heaviest),
        links=tuple((a, b) for a, b, _ in links),
    )


def _link_text(a: str, b: str, edge: igraph.Edge) -> str:
    parts = []
    if edge["transfers"]:
        plural = "s" if edge["transfers"] > 1 else ""
        parts.append(f"{edge['transfers']} transfer{plural} totalling {edge['amount']:,.2f}")
    devices = edge["devices"]
    if devices:
        more = f" and {len(devices) - SHOWN_DEVICES} more" if len(devices) > SHOWN_DEVICES else ""
        parts.append(f"shared device {', '.join(devices[:SHOWN_DEVICES])}{more}")
    return f"{a} – {b}: " + "; ".join(parts)


def _passes(ring: Ring, rules: GraphRules) -> bool:
    return (
        rules.min_members <= ring.size <= rules.max_members
        and ring.density >= rules.min_density
        and len(ring.flagged) >= rules.min_flagged
    )


def ring_signals(rings: list[Ring], at: dt.datetime, rules: GraphRules) -> list[Signal]:
    """One `graph_ring` signal per user of each ring, keyed by the ring, its members as evidence."""
    return [
        Signal(
            rule_id=RULE_ID,
            user_id=user,
            level=rules.level,
            at=at,
            key=ring.ring_id,
            evidence=ring.members,
            details={
                "kind": ring.kind,
                "size": ring.size,
                "flagged": len(ring.flagged),
                "edges": ring.edges,
                "density": round(ring.density, 4),
                "amount": ring.amount,
            },
        )
        for ring in rings
        for user in ring.users
    ]
