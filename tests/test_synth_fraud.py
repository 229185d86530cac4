"""Planted fraud: valid events, real users, and each pattern meets its rule's condition
(computed here independently with Polars) while the look-alikes fall short of it."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from conftest import SYNTH_AS_OF

from lendguard.events.files import read_raw_events, write_events
from lendguard.events.validation import EventValidator
from lendguard.policy import load_policy
from lendguard.store.events import EventStore
from lendguard.synth.events import generate_events
from lendguard.synth.fraud import (
    FRAUD_PATTERNS,
    LABEL_SCHEMA,
    LOOKALIKES,
    FraudPlan,
    plant_fraud,
)
from lendguard.synth.generate import FRAUD_LABELS, MANIFEST, generate_population
from lendguard.synth.population import SynthConfig, generate_users

POLICY = load_policy()
USERS = 4_000
PLAN = FraudPlan(
    device_farm=0.01, collection_account=0.01, province_hopping=0.01, fraud_ring=0.01,
    flagged_contact=0.01, login_burst=0.01, habit_shift=0.01, lookalikes=0.01,
)
WINDOW = dt.timedelta(days=30)
FUND_FLOW = ["collection_account", "fraud_ring", "flagged_contact", "habit_shift", "small_shop", "friend_group", "diverse_spender"]


def _chunk(seed: int = 5):
    rng = np.random.default_rng([seed, 0])
    people = generate_users(USERS, 0, rng, POLICY.geography, SynthConfig())
    base = generate_events(people, SYNTH_AS_OF, POLICY, rng, id_prefix=f"s{seed}-0")
    frames, labels = plant_fraud(people, base, SYNTH_AS_OF, POLICY, rng, PLAN, id_prefix=f"s{seed}-0")
    return people, base, frames, labels


@pytest.fixture(scope="module")
def chunk():
    return _chunk()


@pytest.fixture(scope="module")
def people(chunk):
    return chunk[0]


@pytest.fixture(scope="module")
def base(chunk):
    return chunk[1]


@pytest.fixture(scope="module")
def frames(chunk):
    return chunk[2]


@pytest.fixture(scope="module")
def labels(chunk):
    return chunk[3]


def users_of(labels: pl.DataFrame, pattern: str) -> set[str]:
    return set(labels.filter(pl.col("pattern") == pattern)["user_id"])


def planted_windows(frame: pl.DataFrame, labels: pl.DataFrame, pattern: str) -> pl.DataFrame:
    """The rows of `frame` of users labelled `pattern` within 30 days from their planted_at."""
    marks = labels.filter(pl.col("pattern") == pattern).select("user_id", "planted_at")
    return frame.join(marks, on="user_id").filter(pl.col("ts").is_between(pl.col("planted_at"), pl.col("planted_at") + WINDOW, closed="left"))


def entropy_bits(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """Shannon entropy (bits) of each user's merchant categories in `frame`, with the count."""
    counts = frame.group_by(by, "merchant_category").agg(pl.len().alias("k"))
    p = pl.col("k") / pl.col("k").sum().over(by)
    return counts.group_by(by).agg((-(p * p.log(2))).sum().alias("bits"), pl.col("k").sum().alias("payments"))


# ---- events ------------------------------------------------------------------------------
def test_planted_and_changed_events_pass_the_validator(base, frames, tmp_path):
    new = {t: f.filter(~pl.col("event_id").is_in(base[t]["event_id"].implode())) for t, f in frames.items()}
    changed = frames["payment"].join(base["payment"].select("event_id", pl.col("merchant_category").alias("was")), on="event_id")
    new["payment"] = changed.filter(pl.col("merchant_category") != pl.col("was")).drop("was")
    assert new["login"].height and new["transfer"].height and new["payment"].height
    path = tmp_path / "planted.jsonl"
    count = write_events(new, path)
    validator = EventValidator(POLICY.events, now=SYNTH_AS_OF, policy=POLICY)
    result = validator.validate_many(read_raw_events(path), "planted.jsonl")
    assert not result.rejected, [r.describe() for r in result.rejected[:5]]
    assert len(result.accepted) == count
    start = SYNTH_AS_OF - dt.timedelta(days=90)
    for event_type in ("login", "transfer", "payment"):
        assert new[event_type]["ts"].min() > start and new[event_type]["ts"].max() <= SYNTH_AS_OF
        assert frames[event_type].schema == base[event_type].schema


def test_event_ids_stay_unique_and_base_events_are_kept(base, frames):
    ids = pl.concat([f.select("event_id") for f in frames.values()])["event_id"]
    assert ids.n_unique() == ids.len()
    for event_type, frame in base.items():
        kept = frames[event_type].filter(pl.col("event_id").is_in(frame["event_id"].implode()))
        assert kept.height == frame.height, event_type
        if event_type != "payment":
            assert kept.sort("event_id").equals(frame.sort("event_id")), event_type
    # Payments only change their category, and only for the two payment patterns.
    before, after = base["payment"].sort("event_id"), frames["payment"].sort("event_id")
    assert before.drop("merchant_category").equals(after.drop("merchant_category"))


def test_only_payment_pattern_users_have_changed_payments(base, frames, labels):
    before, after = base["payment"].sort("event_id"), frames["payment"].sort("event_id")
    moved = set(after.filter(before["merchant_category"] != after["merchant_category"])["user_id"])
    assert moved and moved <= users_of(labels, "habit_shift") | users_of(labels, "diverse_spender")


# ---- labels ------------------------------------------------------------------------------
def test_labels_name_real_users_once_per_pattern(people, labels):
    assert labels.schema == LABEL_SCHEMA
    assert set(labels["pattern"]) == set(FRAUD_PATTERNS) | set(LOOKALIKES)
    assert set(labels["user_id"]) <= set(people["user_id"])
    assert labels.select("user_id", "pattern").is_unique().all()
    assert labels.filter(pl.col("fraud") != pl.col("pattern").is_in(list(FRAUD_PATTERNS))).is_empty()
    # One pattern per user, except a ring's seed, which is also a ring member.
    per_user = labels.filter(pl.col("pattern") != "flagged_seed").group_by("user_id").len()
    assert per_user["len"].max() == 1
    assert users_of(labels, "flagged_seed") <= users_of(labels, "fraud_ring")
    assert labels["planted_at"].min() > SYNTH_AS_OF - dt.timedelta(days=90)
    assert labels["planted_at"].max() <= SYNTH_AS_OF


def test_labels_list_the_first_planted_event(frames, labels):
    hops = labels.filter(pl.col("pattern") == "province_hopping").select("user_id", "planted_at")
    first = frames["login"].join(hops, on="user_id").filter(pl.col("ts") == pl.col("planted_at"))
    assert first["user_id"].n_unique() == hops.height


def test_fund_flow_users_granted_deep_credit_for_anti_fraud(frames, labels):
    consent = frames["consent"].filter(pl.col("scope") == "deep_credit")
    granted = set(consent.filter((pl.col("action") == "grant") & pl.col("purposes").list.contains("anti_fraud"))["user_id"])
    withdrawn = set(consent.filter(pl.col("action") == "withdraw")["user_id"])
    planted = labels.filter(pl.col("pattern").is_in(FUND_FLOW))["user_id"]
    assert set(planted) <= granted - withdrawn


# ---- rule 1: more than 3 accounts on one device within 30 days ----------------------------------
def test_farm_devices_carry_more_than_three_accounts_within_30_days(frames, labels):
    logins = frames["login"]
    farms = labels.filter(pl.col("pattern") == "device_farm")
    per_device = logins.filter(pl.col("device_id").is_in(farms["ring_id"].implode())).group_by("device_id").agg(
        pl.col("user_id").n_unique().alias("users"), (pl.col("ts").max() - pl.col("ts").min()).alias("span")
    )
    assert per_device.height == farms["ring_id"].n_unique() >= 3
    assert per_device["users"].min() > 3
    assert per_device["span"].max() < WINDOW
    # Across the whole chunk, only farm devices carry more than three accounts.
    crowded = logins.group_by("device_id").agg(pl.col("user_id").n_unique().alias("users")).filter(pl.col("users") > 3)
    assert set(crowded["device_id"]) == set(farms["ring_id"])


def test_family_tablets_stay_at_or_below_three_accounts(frames, labels):
    families = labels.filter(pl.col("pattern") == "family_device")
    shared = frames["login"].filter(pl.col("device_id").is_in(families["ring_id"].implode()))
    users = shared.group_by("device_id").agg(pl.col("user_id").n_unique().alias("users"))["users"]
    assert users.len() >= 3 and users.min() >= 2 and users.max() <= 3


# ---- rule 2: received funds concentrated in at most 5 counterparties ---------------------------
def _top_share(frames: dict[str, pl.DataFrame], labels: pl.DataFrame, pattern: str) -> pl.DataFrame:
    received = frames["transfer"].filter(pl.col("direction") == "in")
    window = planted_windows(received, labels, pattern).with_columns(pl.col("amount").cast(pl.Float64))
    by_payer = window.group_by("user_id", "counterparty").agg(pl.col("amount").sum())
    top = by_payer.sort("amount", descending=True).group_by("user_id").agg(pl.col("amount").head(5).sum().alias("top"), pl.col("amount").sum().alias("all"))
    counts = window.group_by("user_id").len()
    return top.join(counts, on="user_id").with_columns(share=pl.col("top") / pl.col("all"))


def test_collection_accounts_receive_over_80_percent_from_five_counterparties(frames, labels):
    shares = _top_share(frames, labels, "collection_account")
    assert shares.height == len(users_of(labels, "collection_account")) >= 10
    assert shares["len"].min() >= 10
    assert shares["share"].min() > 0.8


def test_small_shops_receive_much_but_not_concentrated(frames, labels):
    shares = _top_share(frames, labels, "small_shop")
    assert shares.height == len(users_of(labels, "small_shop")) >= 10
    assert shares["len"].min() >= 10
    assert shares["share"].max() <= 0.8


# ---- rule 3: cross-province jump within 2 hours -------------------------------------------------
def _hops(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Consecutive login pairs of one user in different LBS provinces, with the gap."""
    logins = frames["login"].sort("user_id", "ts")
    return logins.with_columns(
        prev_user=pl.col("user_id").shift(1), prev_province=pl.col("lbs_province").shift(1), gap=pl.col("ts").diff()
    ).filter((pl.col("user_id") == pl.col("prev_user")) & (pl.col("lbs_province") != pl.col("prev_province")))


def test_province_hoppers_and_only_they_jump_within_two_hours(frames, labels):
    fast = _hops(frames).filter(pl.col("gap") < dt.timedelta(hours=2))
    hoppers = users_of(labels, "province_hopping")
    assert len(hoppers) >= 10
    assert set(fast["user_id"]) == hoppers


def test_travellers_cross_provinces_two_hours_or_more_apart(frames, labels):
    travellers = users_of(labels, "traveller")
    moves = _hops(frames).filter(pl.col("user_id").is_in(list(travellers)))
    assert set(moves["user_id"]) == travellers and len(travellers) >= 10
    assert moves["gap"].min() >= dt.timedelta(hours=2)


# ---- rule 4: fund flow with an already-flagged account ------------------------------------------
def test_flagged_contacts_move_money_with_a_seed_and_friend_groups_do_not(frames, labels):
    seeds = users_of(labels, "flagged_seed")
    with_seed = set(frames["transfer"].filter(pl.col("counterparty").is_in(list(seeds)))["user_id"])
    contacts = users_of(labels, "flagged_contact")
    assert contacts and contacts <= with_seed
    assert not with_seed & users_of(labels, "friend_group")
    # Outside the rings, only the planted contacts touch a seed.
    assert with_seed - users_of(labels, "fraud_ring") == contacts


# ---- rings: money in a cycle among members, one of them flagged ---------------------------------
@pytest.mark.parametrize("pattern, seeds_per_ring, sizes", [("fraud_ring", 1, (5, 10)), ("friend_group", 0, (3, 5))])
def test_groups_pass_money_round_one_cycle(frames, labels, pattern, seeds_per_ring, sizes):
    groups = labels.filter(pl.col("pattern") == pattern)
    seeds = labels.filter(pl.col("pattern") == "flagged_seed")
    assert groups["ring_id"].n_unique() >= 2
    for ring_id, members in groups.group_by("ring_id"):
        members = set(members["user_id"])
        assert sizes[0] <= len(members) <= sizes[1]
        assert seeds.filter(pl.col("ring_id") == ring_id[0]).height == seeds_per_ring
        sent = frames["transfer"].filter(pl.col("user_id").is_in(list(members)) & (pl.col("direction") == "out") & pl.col("counterparty").is_in(list(members)))
        following = dict(sent.select("user_id", "counterparty").unique().iter_rows())
        assert set(following) == members and len(sent.select("user_id", "counterparty").unique()) == len(members)
        member, seen = next(iter(members)), set()
        while member not in seen:
            seen.add(member)
            member = following[member]
        assert seen == members


# ---- rule 5: many distinct IPs within an hour ---------------------------------------------------
def _ips_per_hour(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    logins = frames["login"].sort("user_id", "ts")
    rolling = logins.rolling(index_column="ts", period="1h", group_by="user_id").agg(pl.col("ip").n_unique().alias("ips"))
    return rolling.group_by("user_id").agg(pl.col("ips").max())


def test_login_bursts_and_only_they_reach_five_ips_in_an_hour(frames, labels):
    per_user = _ips_per_hour(frames)
    bursts = users_of(labels, "login_burst")
    assert len(bursts) >= 10
    assert set(per_user.filter(pl.col("ips") >= 5)["user_id"]) == bursts


def test_commuters_stay_below_five_ips_in_an_hour(frames, labels):
    commuters = users_of(labels, "commuter")
    ips = _ips_per_hour(frames).filter(pl.col("user_id").is_in(list(commuters)))["ips"]
    assert ips.len() == len(commuters) >= 10
    assert ips.min() >= 3 and ips.max() <= 4


# ---- rule 6: payment categories suddenly spread far beyond the user's norm ----------------------
def _habit(frames: dict[str, pl.DataFrame], labels: pl.DataFrame, pattern: str, split) -> pl.DataFrame:
    """Entropy of the 30 days from `split` and of the 60 days before it, per user of `pattern`."""
    users = labels.filter(pl.col("pattern") == pattern).select("user_id", split.alias("split"))
    payments = frames["payment"].join(users, on="user_id")
    recent = payments.filter(pl.col("ts").is_between(pl.col("split"), pl.col("split") + WINDOW, closed="left"))
    norm = payments.filter(pl.col("ts").is_between(pl.col("split") - 2 * WINDOW, pl.col("split"), closed="left"))
    return users.join(entropy_bits(recent, "user_id"), on="user_id", how="left").join(
        entropy_bits(norm, "user_id").rename({"bits": "norm_bits", "payments": "norm_payments"}), on="user_id", how="left"
    ).with_columns(pl.col("norm_bits").fill_null(0.0))


def test_habit_shifts_spread_far_beyond_the_norm(frames, labels):
    shifted = _habit(frames, labels, "habit_shift", pl.col("planted_at"))
    assert shifted.height >= 10
    assert shifted["payments"].min() >= 20
    assert shifted["bits"].min() >= 3.0
    assert (shifted["bits"] - shifted["norm_bits"]).min() >= 1.5


def test_diverse_spenders_are_spread_but_not_shifted(frames, labels):
    steady = _habit(frames, labels, "diverse_spender", pl.lit(SYNTH_AS_OF - WINDOW))
    assert steady.height >= 10
    assert steady["payments"].min() >= 20 and steady["bits"].min() >= 3.0  # a bare threshold would flag them
    assert (steady["bits"] - steady["norm_bits"]).max() < 1.5


def test_unplanted_users_never_reach_the_entropy_threshold(frames, labels):
    spread = users_of(labels, "habit_shift") | users_of(labels, "diverse_spender")
    others = frames["payment"].filter(~pl.col("user_id").is_in(list(spread)))
    assert entropy_bits(others, "user_id")["bits"].max() <= math.log2(6) + 1e-9


# ---- determinism and the generator ----------------------------------------------------------
def test_same_seed_same_planting(chunk):
    again = _chunk()
    assert again[3].equals(chunk[3])
    for event_type, frame in chunk[2].items():
        assert again[2][event_type].equals(frame), event_type
    other = _chunk(seed=6)[3]
    assert not other.equals(chunk[3])


def test_generate_population_writes_labels_and_manifest(tmp_path):
    store = EventStore(tmp_path / "planted")
    summary = generate_population(store, POLICY, 2_000, SYNTH_AS_OF, seed=3, fraud=PLAN)
    labels = pl.read_parquet(store.data_dir / FRAUD_LABELS)
    manifest = json.loads((store.data_dir / MANIFEST).read_text())
    assert labels.schema == LABEL_SCHEMA and labels.height
    assert manifest["fraud"]["labels"] == FRAUD_LABELS
    assert manifest["fraud"]["users_by_pattern"]["device_farm"] == len(users_of(labels, "device_farm"))
    logins = store.scan("login").collect()
    assert set(labels["user_id"]) <= set(logins["user_id"])
    assert logins.height == summary.events_by_type["login"]
    farms = logins.filter(pl.col("device_id").is_in(labels["ring_id"].drop_nulls().implode()))
    assert farms.height

    plain = EventStore(tmp_path / "plain")
    generate_population(plain, POLICY, 500, SYNTH_AS_OF, seed=3, fraud=None)
    assert not (plain.data_dir / FRAUD_LABELS).exists()
    assert json.loads((plain.data_dir / MANIFEST).read_text())["fraud"] is None


def test_synthetic_amounts_keep_their_cents():
    """Money is exact: generated amounts carry cents and are never rounded down to zero."""
    import numpy as np

    from lendguard.synth.events import _money

    assert [str(v) for v in _money(np.array([12.34, 0.004, 0.99]))] == ["12.34", "0.01", "0.99"]
