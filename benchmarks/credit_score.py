"""What deciding the first visibility dimension by the learned score (CR05) costs against the
fixed thresholds (CR01-CR04), on the same synthetic population, in the same run.

    .venv/bin/python benchmarks/credit_score.py [--users 100000] [--data-dir DIR]

Generates the population (once per directory), trains the scorecard on its outcomes into
DIR/model, then times `evaluate_store` under both policies twice each and prints the
seconds, the ratio score/thresholds, and the visible and credit-pass shares.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import tomllib
from pathlib import Path

from typer.testing import CliRunner

from lendguard.cli.main import app
from lendguard.features.window import AsOf
from lendguard.policy import load_policy
from lendguard.policy.loader import default_policy_path, policy_from_mapping
from lendguard.store.events import EventStore
from lendguard.synth.generate import generate_population
from lendguard.visibility.service import evaluate_store

AS_OF = dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(f"/tmp/lendguard-bench-credit-score-{args.users}")
    thresholds = load_policy()
    if not (data_dir / "model" / "scorecard.json").exists():
        print(f"generating {args.users:,} users and training the scorecard in {data_dir} ...", flush=True)
        generate_population(EventStore(data_dir), thresholds, args.users, AS_OF, seed=7)
        done = CliRunner().invoke(app, ["score", "fit", "--dataset", "synthetic", "--data-dir", str(data_dir), "--out", str(data_dir / "model"), "--no-challenger"])
        if done.exit_code:
            print(done.output, file=sys.stderr)
            return 1
    data = tomllib.loads(default_policy_path().read_text(encoding="utf-8"))
    data["visibility"]["credit"]["checks"] = ["CR05"]
    score = policy_from_mapping(data, json.dumps(data, sort_keys=True, default=str).encode(), default_policy_path())
    best: dict[str, float] = {}
    for name, policy in (("thresholds", thresholds), ("score", score)) * 2:
        began = time.perf_counter()
        result = evaluate_store(EventStore(data_dir), policy, AsOf.of(AS_OF, policy))
        seconds = time.perf_counter() - began
        best[name] = min(seconds, best.get(name, seconds))
        decisions = result.decisions
        print(f"  {name:10} {seconds:6.2f} s   visible {decisions['visible'].mean():.3f}   credit dimension passes {(decisions['dim_credit'] == 'pass').mean():.3f}")
    print(f"{args.users:,} users: best of two, thresholds {best['thresholds']:.2f} s, score {best['score']:.2f} s, ratio score/thresholds {best['score'] / best['thresholds']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
