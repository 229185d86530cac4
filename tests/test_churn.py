"""The quarterly re-evaluation: `churn` on hand-made decision tables (who gained, who lost,
which checks changed), and end to end: `lendguard synth --quarter 1` keeps the users and
their outcomes while drawing their behaviour afresh, and `lendguard churn` compares the two
evaluations."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.visibility.churn import ChurnError, churn, read_decisions

AS_OF = "2026-11-24T00:00:00+00:00"


def table(rows: list[tuple[str, bool, list[str]]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"user_id": pl.String, "visible": pl.Boolean, "reason_codes": pl.List(pl.String)}, orient="row")


def test_churn_counts_flips_and_the_checks_that_changed():
    before = table([
        ("a", True, []), ("b", True, []), ("c", False, ["CR01", "KY04"]), ("d", False, ["PB02"]), ("e", True, []), ("gone", True, []),
    ])
    after = table([
        ("a", False, ["CR01", "PB02"]), ("b", False, ["CR01"]), ("c", True, []), ("d", False, ["PB02", "CR04"]), ("e", True, []), ("new", False, ["CR01"]),
    ])
    report = churn(before, after)
    assert (report.users, report.gained, report.lost, report.flipped) == (5, 1, 2, 3)
    assert report.flip_share == pytest.approx(3 / 5)
    assert (report.visible_before, report.visible_after) == (3, 2)
    assert report.lost_because == [("CR01", 2), ("PB02", 1)]  # d stayed hidden: its new CR04 is no flip
    assert report.gained_because == [("CR01", 1), ("KY04", 1)]
    assert (report.only_before, report.only_after) == (1, 1)
    assert report.as_dict()["expected_flip_share"] == [0.12, 0.15]


def test_no_decisions_is_a_clear_error(tmp_path):
    with pytest.raises(ChurnError, match="run `lendguard evaluate` first"):
        read_decisions(tmp_path)
    pl.DataFrame({"user_id": ["a"]}).write_parquet(tmp_path / "decisions.parquet")
    with pytest.raises(ChurnError, match="lacks"):
        read_decisions(tmp_path)


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return result


def test_a_quarter_on_the_same_users_flip_and_churn_says_why(tmp_path):
    first, later = tmp_path / "q0", tmp_path / "q1"
    run("synth", "--users", "3000", "--seed", "3", "--as-of", AS_OF, "--data-dir", str(first))
    run("synth", "--users", "3000", "--seed", "3", "--quarter", "1", "--as-of", AS_OF, "--data-dir", str(later))
    q0_outcomes, q1_outcomes = pl.read_parquet(first / "outcomes.parquet"), pl.read_parquet(later / "outcomes.parquet")
    assert q0_outcomes.equals(q1_outcomes)  # the same users and the same truth
    for data in (first, later):
        run("evaluate", "--data-dir", str(data), "--no-report", "--no-jsonl")
    out = tmp_path / "churn.json"
    result = run("churn", str(first), str(later), "--out", str(out))
    report = json.loads(out.read_text())
    before, after = read_decisions(first), read_decisions(later)
    joined = before.join(after, on="user_id", suffix="_after")
    assert report["users"] == 3000 == joined.height
    assert report["gained"] == joined.filter(~pl.col("visible") & pl.col("visible_after")).height > 0
    assert report["lost"] == joined.filter(pl.col("visible") & ~pl.col("visible_after")).height > 0
    assert 0.05 < report["flip_share"] < 0.25  # behaviour drawn afresh and 10% of users redrawn
    assert report["lost_because"] and report["gained_because"]
    assert "flipped" in result.output and "gained" in result.output
    assert dt.datetime.fromisoformat(json.loads((later / "synthetic.json").read_text())["as_of"]) == dt.datetime.fromisoformat(AS_OF)
    assert json.loads((later / "synthetic.json").read_text())["quarter"] == 1
