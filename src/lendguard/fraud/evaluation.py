"""How well the rules and the graph job find planted fraud (synthetic data with labels).

SYNTHETIC DATA ONLY: the generator plants patterns with ground-truth labels
(`DATA_DIR/fraud_labels.parquet`; see docs/synthetic-fraud.md). For each rule, precision is
the share of the users it raised that carry any fraud label, recall the share of the
users planted with the pattern it targets that it raised. Among all users ever raised
above R0, the false-positive share is the share with no fraud label (seed 003 cites
about 6.3% in production).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.engine import Engine

from lendguard.fraud.book import RECOVERY_RULE, transitions

LABELS_FILE = "fraud_labels.parquet"
GRAPH_RULE = "graph_ring"
# The planted pattern each detector targets (the synthetic generator's names).
TARGETS = {
    "FR01": "device_farm",
    "FR02": "collection_account",
    "FR03": "province_hopping",
    "FR04": "flagged_contact",
    "FR05": "login_burst",
    "FR06": "habit_shift",
    "graph_ring": "fraud_ring",
}


def ring_members(engine: Engine) -> set[str]:
    from lendguard.fraud.graph_job import list_rings

    return {user for found in list_rings(engine, limit=1_000_000) for user in found.ring.users}


def load_labels(data_dir: Path) -> pl.DataFrame | None:
    path = Path(data_dir) / LABELS_FILE
    return pl.read_parquet(path) if path.exists() else None


def evaluate_detection(engine: Engine, labels: pl.DataFrame) -> dict[str, Any]:
    """Per-detector precision and recall, and the false-positive share among raised users."""
    raised = pl.DataFrame(
        [(t["user_id"], t["rule_id"]) for t in transitions(engine) if t["rule_id"] != RECOVERY_RULE and t["to_level"] != "R0"],
        schema={"user_id": pl.String, "rule_id": pl.String},
        orient="row",
    ).unique()
    fraudsters = set(labels.filter(pl.col("fraud"))["user_id"].to_list())
    in_rings = ring_members(engine)
    rules = []
    for rule_id in sorted(set(raised["rule_id"].to_list()) | set(TARGETS)):
        # The graph job is judged by the rings it found (their members may already be
        # raised by a rule, so its own transitions undercount it).
        hit = in_rings if rule_id == GRAPH_RULE else set(raised.filter(pl.col("rule_id") == rule_id)["user_id"].to_list())
        pattern = TARGETS.get(rule_id)
        planted = set(labels.filter(pl.col("pattern") == pattern)["user_id"].to_list()) if pattern else set()
        rules.append(
            {
                "rule_id": rule_id,
                "target_pattern": pattern,
                "users_raised": len(hit),
                "precision": round(len(hit & fraudsters) / len(hit), 4) if hit else None,
                "planted": len(planted),
                "recall": round(len(hit & planted) / len(planted), 4) if planted else None,
            }
        )
    everyone = set(raised["user_id"].to_list())
    false = everyone - fraudsters
    return {
        "rules": rules,
        "users_raised": len(everyone),
        "false_positives": len(false),
        "false_positive_share": round(len(false) / len(everyone), 4) if everyone else None,
        "fraud_users": len(fraudsters),
        "fraud_users_raised": len(everyone & fraudsters),
    }


def flag_planted_seeds(engine: Engine, labels: pl.DataFrame) -> int:
    """Put the planted rings' already-flagged members on the flagged list, as a partner's
    list of known fraudulent accounts would be in production."""
    from lendguard.fraud.flagged import flag_accounts

    seeds = labels.filter(pl.col("pattern") == "flagged_seed")["user_id"].unique().sort().to_list()
    return flag_accounts(engine, seeds, "synthetic: planted flagged member of a ring", "synth")
