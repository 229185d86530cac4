"""Population report: summary numbers against independent Polars computations, terminal and HTML output."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from plotly.offline import get_plotlyjs
from rich.console import Console

from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.report.html import write_html_report
from lendguard.report.summary import (
    MetricSpec,
    band_labels,
    band_minimums,
    distribution_specs,
    histogram,
    summarize,
    summarize_for_policy,
)
from lendguard.report.terminal import render_summary
from lendguard.store.events import EventStore
from lendguard.synth.generate import generate_population
from lendguard.visibility.check import DIMENSIONS
from lendguard.visibility.decision import texts
from lendguard.visibility.service import evaluate_store

USERS = 3_000
BLOCKING = ["fail", "not_assessable"]
OVERVIEW_CHARTS = ["chart-funnel", "chart-failures", "chart-region-tier", "chart-security-grade", "chart-version-band", "chart-reasons"]
DISTRIBUTION_CHARTS = [
    "chart-dist-credit-payments_per_month",
    "chart-dist-credit-wealth_holding_days",
    "chart-dist-credit-credit_history_years",
    "chart-dist-credit-high_risk_contact_share",
    "chart-dist-region-region_tier",
    "chart-dist-kyc-debit_banks",
    "chart-dist-payment_behaviour-offline_share",
    "chart-dist-payment_behaviour-monthly_volatility",
    "chart-dist-payment_behaviour-night_share",
    "chart-dist-partner_data-bureau_queries_12m",
    "chart-dist-device_security-security_score",
    "chart-dist-gray_release-version_band",
    "chart-dist-anti_fraud-risk_level",
]


@pytest.fixture(scope="module")
def policy():
    return load_policy()


@pytest.fixture(scope="module")
def result(tmp_path_factory, policy):
    store = EventStore(tmp_path_factory.mktemp("report_store"))
    at = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
    generate_population(store, policy, USERS, at)
    return evaluate_store(store, policy, AsOf.of(at, policy))


@pytest.fixture(scope="module")
def decisions(result):
    return result.decisions


@pytest.fixture(scope="module")
def summary(decisions, policy):
    return summarize_for_policy(decisions, policy)


def _version_number(column: str = "client_version") -> pl.Expr:
    parts = pl.col(column).str.split(".")
    return parts.list.get(0).cast(pl.Int64) * 1_000_000 + parts.list.get(1).cast(pl.Int64) * 1_000 + parts.list.get(2).cast(pl.Int64)


def test_headline_numbers(summary, decisions):
    assert summary.users == decisions.height == USERS
    assert summary.visible == decisions.filter(pl.col("visible")).height
    assert summary.visible_share == pytest.approx(decisions["visible"].mean())


def test_failures_per_dimension(summary, decisions):
    assert [d.dimension for d in summary.dimensions] == list(DIMENSIONS)
    for d in summary.dimensions:
        status = pl.col(f"dim_{d.dimension}")
        assert d.failing == decisions.filter(status.is_in(BLOCKING)).height
        assert d.fail == decisions.filter(status == "fail").height
        assert d.not_assessable == decisions.filter(status == "not_assessable").height
        assert d.failing_share == pytest.approx(d.failing / USERS)
        alone = decisions.filter(pl.col("failed_dimensions").list.len() == 1).filter(
            pl.col("failed_dimensions").list.first() == d.dimension
        )
        assert d.sole_blocker == alone.height
        assert d.title_en == texts()["dimensions"][d.dimension]["en"]


def test_funnel(summary, decisions):
    remaining = [step.remaining for step in summary.funnel]
    assert [step.dimension for step in summary.funnel] == list(DIMENSIONS)
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] == summary.visible
    assert remaining[0] == decisions.filter(pl.col("dim_credit").is_in(["pass", "warn"])).height
    frame = decisions
    for step in summary.funnel:
        frame = frame.filter(~pl.col(f"dim_{step.dimension}").is_in(BLOCKING))
        assert step.remaining == frame.height


def test_breakdowns(summary, decisions):
    for groups, column in ((summary.by_region_tier, "region_tier"), (summary.by_security_grade, "security_grade")):
        assert sum(g.users for g in groups) == USERS
        expected = decisions.group_by(pl.col(column).fill_null("missing")).agg(pl.len(), pl.col("visible").mean())
        for column_value, users, share in expected.iter_rows():
            group = next(g for g in groups if g.group == column_value)
            assert group.users == users
            assert group.visible_share == pytest.approx(share)
    assert [g.group for g in summary.by_region_tier][:4] == ["tier1", "new_tier1", "other", "county"]
    assert [g.group for g in summary.by_security_grade][:3] == ["A", "B", "C"]


def test_version_bands_follow_policy(summary, decisions, policy):
    labels = band_labels(band_minimums(policy))
    assert labels == (">=8.0.40", "8.0.30-39", "8.0.20-29", "<8.0.20")
    assert [g.group for g in summary.by_version_band][:4] == list(labels)
    number = _version_number()
    assert summary.by_version_band[0].users == decisions.filter(number >= 8_000_040).height
    assert summary.by_version_band[1].users == decisions.filter((number >= 8_000_030) & (number < 8_000_040)).height
    assert summary.by_version_band[3].users == decisions.filter(number < 8_000_020).height
    # Other bands in the policy give other labels and counts: nothing is hard-coded.
    custom = summarize(decisions, bands=("8.0.45", "8.0.25"))
    assert [g.group for g in custom.by_version_band][:3] == [">=8.0.45", "8.0.25-44", "<8.0.25"]
    assert custom.by_version_band[0].users == decisions.filter(number >= 8_000_045).height


def test_reason_codes(summary, decisions):
    expected = decisions.select(pl.col("reason_codes").explode().drop_nulls()).to_series().value_counts()
    counts = dict(expected.iter_rows())
    assert {r.code: r.count for r in summary.top_reasons} == counts
    assert [r.count for r in summary.top_reasons] == sorted(counts.values(), reverse=True)
    for r in summary.top_reasons:
        assert r.title_en == texts()[r.code]["title"]["en"]
        assert r.title_zh == texts()[r.code]["title"]["zh"]
        assert r.share == pytest.approx(r.count / USERS)


def test_distributions(summary, decisions, policy):
    specs = {s.column: s for s in distribution_specs(policy) if isinstance(s, MetricSpec)}
    assert specs["payments_per_month"].threshold == policy.visibility.credit.min_payments_per_month
    assert specs["security_score"].threshold == policy.visibility.device_security.min_score
    histograms = [d for d in summary.distributions if d.type == "histogram"]
    assert {h.column for h in histograms} == set(specs)
    for h in histograms:
        value = pl.col(h.column).cast(pl.Float64).fill_nan(None)
        assert sum(h.counts) + h.missing == USERS
        assert h.missing == decisions.select(value.is_null().sum()).item()
        failing = value < h.threshold if h.kind == "min" else value > h.threshold
        assert h.failing_side == decisions.select(failing.sum()).item()
        assert len(h.counts) <= 45 and len(h.bin_edges) == len(h.counts) + 1
        assert h.bin_edges[0] <= h.boundary <= h.bin_edges[-1]
        assert any(abs(edge - h.boundary) < 1e-9 for edge in h.bin_edges)


def test_histogram_integer_threshold_on_an_edge():
    frame = pl.DataFrame({"debit_banks": [0, 1, 2, 3, 4, 5, None]})
    spec = MetricSpec("kyc", "debit_banks", "Debit banks", "min", 3.0, "min_debit_banks")
    h = histogram(frame, spec)
    assert h.boundary == 2.5 and h.integer
    assert h.counts == (1, 1, 1, 1, 1, 1) and h.missing == 1 and h.failing_side == 3


def test_to_dict_is_json(summary):
    payload = json.loads(json.dumps(summary.to_dict()))
    assert payload["users"] == USERS
    assert len(payload["funnel"]) == len(DIMENSIONS)


def test_render_summary(summary):
    console = Console(record=True, width=100)
    render_summary(summary, console)
    text = console.export_text()
    assert f"Loan entry visible to {summary.visible:,} of {summary.users:,} users" in text
    assert summary.top_reasons[0].title_en in text
    assert max(len(line) for line in text.splitlines()) <= 100


@pytest.mark.parametrize("synthetic", [True, False])
def test_write_html_report(tmp_path, result, summary, policy, synthetic):
    path = write_html_report(result.decisions, summary, tmp_path / "report.html", policy, result.as_of, synthetic=synthetic)
    html = path.read_text(encoding="utf-8")
    assert html.count(get_plotlyjs()[:200]) == 1
    assert "<script src" not in html  # nothing fetched: the page works offline
    assert html.count('class="plotly-graph-div"') == len(OVERVIEW_CHARTS + DISTRIBUTION_CHARTS)
    for chart in OVERVIEW_CHARTS + DISTRIBUTION_CHARTS:
        assert f'id="{chart}"' in html
    assert policy.sha256 in html and policy.version in html
    assert result.as_of.at.isoformat() in html
    assert ("Synthetic data." in html) == synthetic
    assert path.stat().st_size < 6_000_000


def test_write_html_report_from_result_completes_summary(tmp_path, result):
    """A summary made without the policy still gets its version bands and distributions from it."""
    plain = summarize(result.decisions)
    assert not plain.distributions and not plain.by_version_band
    path = write_html_report(result, plain, tmp_path / "nested" / "report.html")
    html = path.read_text(encoding="utf-8")
    assert html.count('class="plotly-graph-div"') == len(OVERVIEW_CHARTS + DISTRIBUTION_CHARTS)
    assert result.policy.sha256 in html
