"""The report's ring chart: the largest fund-flow rings drawn as networks, flagged members marked."""

from __future__ import annotations

import igraph
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lendguard.fraud.graph import Ring

# The report's palette (report/html.py), repeated here: html.py imports this module.
FLAGGED_COLOR = "#e76f51"
MEMBER_COLOR = "#457b9d"
LINK_COLOR = "#b0b7c3"
CHART_HEIGHT = 380


def ring_layout(ring: Ring) -> dict[str, tuple[float, float]]:
    """Kamada–Kawai positions of the members (deterministic: it starts from a circle)."""
    graph = igraph.Graph(n=ring.size)
    graph.vs["name"] = list(ring.members)
    graph.add_edges(ring.links)
    layout = graph.layout_kamada_kawai() if ring.size > 1 else [(0.0, 0.0)]
    return {name: (float(x), float(y)) for name, (x, y) in zip(ring.members, layout)}


def rings_figure(rings: list[Ring], top: int = 3) -> go.Figure:
    """The `top` largest rings side by side: links as lines, members as dots (users round,
    plain accounts square), flagged members in the failure colour."""
    largest = sorted(rings, key=lambda r: (-r.size, -r.amount, r.ring_id))[:top]
    if not largest:
        fig = go.Figure()
        fig.add_annotation(text="no rings found", showarrow=False, font={"size": 14})
        return _layout(fig, "Fund-flow rings")
    titles = [f"{r.ring_id} · {r.size} members · {r.kind}" for r in largest]
    fig = make_subplots(rows=1, cols=len(largest), subplot_titles=titles)
    for col, ring in enumerate(largest, start=1):
        for trace in _ring_traces(ring):
            fig.add_trace(trace, row=1, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, f"Largest fund-flow rings ({len(largest)} of {len(rings)})")


def _ring_traces(ring: Ring) -> list[go.Scatter]:
    at = ring_layout(ring)
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in ring.links:
        xs += [at[a][0], at[b][0], None]
        ys += [at[a][1], at[b][1], None]
    links = go.Scatter(x=xs, y=ys, mode="lines", line={"color": LINK_COLOR, "width": 1}, hoverinfo="skip", showlegend=False)
    flagged, users = set(ring.flagged), set(ring.users)
    members = go.Scatter(
        x=[at[m][0] for m in ring.members],
        y=[at[m][1] for m in ring.members],
        mode="markers",
        marker={
            "size": 12,
            "color": [FLAGGED_COLOR if m in flagged else MEMBER_COLOR for m in ring.members],
            "symbol": ["circle" if m in users else "square" for m in ring.members],
            "line": {"width": 1, "color": "white"},
        },
        text=[f"{m}{' (flagged)' if m in flagged else ''}" for m in ring.members],
        hoverinfo="text",
        showlegend=False,
    )
    return [links, members]


def _layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        template="plotly_white",
        height=CHART_HEIGHT,
        margin={"l": 20, "r": 20, "t": 90, "b": 20},
    )
    return fig
