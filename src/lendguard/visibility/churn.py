"""The quarterly re-evaluation (SPEC §1.1): between two evaluations of the same users, who
gained the loan entry, who lost it, and why: the checks that newly failed for those who
lost it, the checks that newly passed for those who gained it. The seed expects 12–15% of
users to flip each quarter; the report gives the share beside that range."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

DECISIONS_FILE = "decisions.parquet"
EXPECTED_FLIP_SHARE = (0.12, 0.15)  # SPEC §1.1, for comparison only


class ChurnError(ValueError):
    """Decision tables that cannot be compared; the message says which and why."""


def read_decisions(path: Path) -> pl.DataFrame:
    """A decisions.parquet, or a directory holding one (a data dir's decisions/ or itself)."""
    path = Path(path)
    for candidate in (path, path / DECISIONS_FILE, path / "decisions" / DECISIONS_FILE):
        if candidate.is_file():
            frame = pl.read_parquet(candidate)
            missing = {"user_id", "visible", "reason_codes"} - set(frame.columns)
            if missing:
                raise ChurnError(f"{candidate} is not a decision table: it lacks {sorted(missing)}")
            return frame
    raise ChurnError(f"no {DECISIONS_FILE} at {path} (run `lendguard evaluate` first)")


@dataclass(frozen=True)
class Churn:
    users: int  # in both evaluations
    visible_before: int
    visible_after: int
    gained: int
    lost: int
    lost_because: list[tuple[str, int]]  # check code newly failing, users
    gained_because: list[tuple[str, int]]  # check code newly passing, users
    only_before: int
    only_after: int

    @property
    def flipped(self) -> int:
        return self.gained + self.lost

    @property
    def flip_share(self) -> float:
        return self.flipped / self.users if self.users else 0.0

    def as_dict(self) -> dict:
        return {
            "users": self.users, "visible_before": self.visible_before, "visible_after": self.visible_after,
            "gained": self.gained, "lost": self.lost, "flipped": self.flipped, "flip_share": round(self.flip_share, 6),
            "expected_flip_share": list(EXPECTED_FLIP_SHARE),
            "lost_because": [{"code": c, "users": n} for c, n in self.lost_because],
            "gained_because": [{"code": c, "users": n} for c, n in self.gained_because],
            "only_before": self.only_before, "only_after": self.only_after,
        }


def churn(before: pl.DataFrame, after: pl.DataFrame) -> Churn:
    """Compare two decision tables on the users they share."""
    left = before.select("user_id", pl.col("visible").alias("was"), pl.col("reason_codes").alias("codes_before"))
    right = after.select("user_id", pl.col("visible").alias("now"), pl.col("reason_codes").alias("codes_after"))
    both = left.join(right, on="user_id", how="inner")
    gained = both.filter(~pl.col("was") & pl.col("now"))
    lost = both.filter(pl.col("was") & ~pl.col("now"))

    def counted(frame: pl.DataFrame, newer: str, older: str) -> list[tuple[str, int]]:
        if frame.height == 0:
            return []
        changed = frame.select("user_id", pl.col(newer).list.set_difference(pl.col(older)).alias("code")).explode("code").drop_nulls("code")
        return [tuple(r) for r in changed.group_by("code").agg(pl.col("user_id").n_unique().alias("users")).sort(["users", "code"], descending=[True, False]).rows()]

    return Churn(
        users=both.height, visible_before=int(both["was"].sum()), visible_after=int(both["now"].sum()),
        gained=gained.height, lost=lost.height,
        lost_because=counted(lost, "codes_after", "codes_before"), gained_because=counted(gained, "codes_before", "codes_after"),
        only_before=left.height - both.height, only_after=right.height - both.height,
    )
