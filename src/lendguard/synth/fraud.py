"""Plant labelled fraud, and benign look-alikes, into one chunk of synthetic events.

SYNTHETIC DATA. The fraud engine's rules (SPEC §3) need known positives to be measured
against. `plant_fraud` adds the events of a few fraud patterns to a chunk (and rewrites
some existing ones: a habit shift re-labels the user's payments), and says who was
planted with which pattern and when. It also plants look-alikes that come close to a
rule without crossing it, so that precision is not trivially 100%. Only the chunk's own
users are planted; outside counterparties are named `acct-...`. Fund-flow patterns use
users whose deep-credit grant covers anti-fraud (the engine may read their transfers
and payments); login patterns need only the phone-and-device grant everyone has.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from lendguard.events.columns import MONEY_DTYPE, TIME_DTYPE, frame_schema
from lendguard.policy import Policy

DAY, HOUR, MINUTE = 86_400, 3_600, 60

FRAUD_PATTERNS = (
    "device_farm", "collection_account", "province_hopping", "fraud_ring", "flagged_seed",
    "flagged_contact", "login_burst", "habit_shift",
)
LOOKALIKES = ("family_device", "small_shop", "traveller", "friend_group", "commuter", "diverse_spender")

# The rule conditions (SPEC §3 defaults) the patterns cross and the look-alikes stay short of.
WINDOW_DAYS = 30
MAX_ACCOUNTS_PER_DEVICE = 3  # more distinct users on one device within the window
TOP_COUNTERPARTIES, MAX_TOP_SHARE, MIN_RECEIVED = 5, 0.8, 10  # received funds concentration
HOP_SECONDS = 2 * HOUR  # consecutive logins in different LBS provinces closer than this
BURST_SECONDS, BURST_IPS = HOUR, 5  # this many distinct IPs within this time
HABIT_BITS, HABIT_PAYMENTS, HABIT_RISE_BITS = 3.0, 20, 1.5  # category entropy, payments, rise over the norm

USUAL_CATEGORIES = ("food", "grocery", "transport", "retail", "services", "entertainment")
SPREAD_CATEGORIES = (*USUAL_CATEGORIES, "electronics", "jewelry", "gaming", "gift_cards", "travel", "luxury")

_DEVICE_NAMES = {"device_farm": "farm", "family_device": "tablet"}
LABEL_SCHEMA = pl.Schema(
    {"user_id": pl.String, "pattern": pl.String, "fraud": pl.Boolean, "ring_id": pl.String, "planted_at": TIME_DTYPE}
)


@dataclass(frozen=True)
class FraudPlan:
    """Shares of a chunk's users planted with each pattern; `lookalikes` is the share per look-alike kind."""

    device_farm: float = 0.005
    farm_size: tuple[int, int] = (4, 8)
    collection_account: float = 0.003
    province_hopping: float = 0.005
    fraud_ring: float = 0.002
    ring_size: tuple[int, int] = (5, 10)
    flagged_contact: float = 0.002
    login_burst: float = 0.005
    habit_shift: float = 0.005
    lookalikes: float = 0.005


def plant_fraud(
    people: pl.DataFrame,
    frames: dict[str, pl.DataFrame],
    as_of: dt.datetime,
    policy: Policy,
    rng: np.random.Generator,
    config: FraudPlan,
    id_prefix: str,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """The chunk's frames with fraud and look-alikes planted, and one label row per (user, pattern).

    Labels: `fraud` is false for look-alikes; `ring_id` names the user's group (ring,
    farm device, family tablet, friend group; for a flagged contact, the seed's ring);
    `planted_at` is the time of the user's first event of the pattern. A ring's seed has
    a `fraud_ring` and a `flagged_seed` row: seed the engine with the `flagged_seed` ids.
    """
    plan, chunk = config, _Chunk(people, frames, as_of, policy, rng, id_prefix)
    chunk.device_groups("device_farm", plan.device_farm, plan.farm_size, span_days=(3, 20))
    chunk.device_groups("family_device", plan.lookalikes, (2, 3), span_days=(10, 40))
    chunk.login_pair("province_hopping", plan.province_hopping, gap=(10 * MINUTE, HOP_SECONDS - 10 * MINUTE))
    chunk.login_pair("traveller", plan.lookalikes, gap=(HOP_SECONDS + 5 * MINUTE, 4 * HOUR))
    chunk.login_run("login_burst", plan.login_burst, logins=(BURST_IPS, BURST_IPS + 3), minutes=(15, 50))
    chunk.login_run("commuter", plan.lookalikes, logins=(BURST_IPS - 2, BURST_IPS - 1), minutes=(30, 55))
    chunk.rings("fraud_ring", plan.fraud_ring, plan.ring_size, rounds=(3, 5), amount=(800, 4000), kind="transfer")
    chunk.rings("friend_group", plan.lookalikes, (3, 5), rounds=(1, 2), amount=(20, 200), kind="red_packet")
    chunk.flagged_contacts(plan.flagged_contact)
    chunk.receipts("collection_account", plan.collection_account, count=(12, 30), main_payers=3, amounts=((2000, 8000), (50, 300)))
    chunk.receipts("small_shop", plan.lookalikes, count=(20, 40), main_payers=0, amounts=((20, 150), (20, 150)))
    chunk.payment_habits("habit_shift", plan.habit_shift, shift=True)
    chunk.payment_habits("diverse_spender", plan.lookalikes, shift=False)
    return chunk.result()


def _count(expected: float, rng: np.random.Generator) -> int:
    """`expected` rounded up or down at random, so small chunks get their share on average."""
    return int(expected + rng.random())


def _positions(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each run of `np.repeat(..., counts)`."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def _text(*parts) -> np.ndarray:
    """Element-wise string concatenation of arrays and scalars."""
    out = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        out = np.char.add(out, np.asarray(part).astype(str))
    return out.astype(object)


class _Chunk:
    """One chunk being planted: who is still free, and the events and labels planted so far."""

    def __init__(self, people, frames, as_of, policy, rng, prefix):
        self.frames, self.rng, self.prefix = frames, rng, prefix
        self.end = int(as_of.timestamp())
        self.ids = people["user_id"].to_numpy().astype(object)
        self.province = people["province"].to_numpy().astype(str)
        self.city = people["city"].to_numpy().astype(object)
        self.n = len(self.ids)
        self.taken = np.zeros(self.n, dtype=bool)
        geography = policy.geography
        self.geo_province = geography["province"].to_numpy().astype(str)
        self.geo_city = geography["city"].to_numpy().astype(object)

        logins = (
            frames["login"].select("user_id", "ts", "device_id", "device_model", "os", "client_version", "phone_province")
            .with_columns(pl.col("ts").dt.epoch("s"))
            .sort("user_id", "ts")
        )
        self.device = logins.group_by("user_id").last().drop("ts")
        # Each user's latest login and the longest quiet stretch between two of their logins.
        same_user = pl.col("user_id") == pl.col("user_id").shift(1)
        gaps = (
            logins.select("user_id", "ts", gap=pl.when(same_user).then(pl.col("ts") - pl.col("ts").shift(1)).otherwise(-1))
            .group_by("user_id")
            .agg(last_ts=pl.col("ts").last(), gap_end=pl.col("ts").get(pl.col("gap").arg_max()), gap=pl.col("gap").max())
        )
        stats = people.select("user_id").join(gaps, on="user_id", how="left", maintain_order="left")
        self.last_ts = stats["last_ts"].fill_null(0).to_numpy()
        self.gap = stats["gap"].fill_null(-1).to_numpy()
        self.gap_start = stats["gap_end"].fill_null(0).to_numpy() - self.gap

        consent = frames["consent"].filter(pl.col("scope") == "deep_credit")
        granted = consent.filter((pl.col("action") == "grant") & pl.col("purposes").list.contains("anti_fraud"))["user_id"]
        withdrawn = consent.filter(pl.col("action") == "withdraw")["user_id"]
        user_ids = people["user_id"]
        self.deep = (user_ids.is_in(granted.implode()) & ~user_ids.is_in(withdrawn.implode())).to_numpy()
        transfers = frames["transfer"]
        received = transfers.filter((pl.col("kind") == "transfer") & (pl.col("direction") == "in"))["user_id"]
        self.receives = user_ids.is_in(received.implode()).to_numpy()

        self.logins: list[pl.DataFrame] = []
        self.transfers: list[pl.DataFrame] = []
        self.payments: list[pl.DataFrame] = []
        self.labels: list[pl.DataFrame] = []
        self.seeds = np.array([], dtype=object)
        self.seed_rings = np.array([], dtype=object)

    # ---- helpers -----------------------------------------------------------------------
    def _pick(self, eligible: np.ndarray, k: int) -> np.ndarray:
        """Up to `k` random free users among `eligible` (indices), now taken."""
        chosen = self.rng.permutation(np.flatnonzero(eligible & ~self.taken))[:k]
        self.taken[chosen] = True
        return chosen

    def _label(self, pattern: str, users: np.ndarray, ts: np.ndarray, ring_id=None) -> None:
        if not len(users):
            return
        ring = pl.Series(np.broadcast_to(np.asarray(ring_id, dtype=object), len(users)), dtype=pl.String)
        self.labels.append(pl.DataFrame({"user_id": pl.Series(users, dtype=pl.String), "pattern": pattern, "ring_id": ring, "ts": ts.astype(np.int64)}))

    def _login(self, users, ts, ip, ip_province, lbs_province, lbs_city, device=None, like=None) -> None:
        """Logins on `device` (default: the user's current one) that look like `like`'s (default: the user's)."""
        k = len(users)
        if not k:
            return
        self.logins.append(pl.DataFrame({
            "user_id": pl.Series(users, dtype=pl.String), "ts": ts.astype(np.int64),
            "device_id": pl.Series(np.broadcast_to(np.asarray(device, dtype=object), k), dtype=pl.String),
            "like": pl.Series(users if like is None else like, dtype=pl.String),
            "ip": pl.Series(ip, dtype=pl.String), "ip_province": pl.Series(ip_province, dtype=pl.String),
            "lbs_province": pl.Series(lbs_province, dtype=pl.String), "lbs_city": pl.Series(lbs_city, dtype=pl.String),
        }))

    def _transfer(self, users, ts, kind, direction, amount, counterparty) -> None:
        k = len(users)
        if not k:
            return
        self.transfers.append(pl.DataFrame({
            "user_id": pl.Series(users, dtype=pl.String), "ts": ts.astype(np.int64),
            "kind": np.broadcast_to(kind, k), "direction": np.broadcast_to(direction, k),
            "cents": np.round(np.asarray(amount) * 100).astype(np.int64), "counterparty": pl.Series(counterparty, dtype=pl.String),
        }))

    def _ips(self, k: int, last=None) -> np.ndarray:
        r = self.rng.integers(1, 255, (3, k))
        return _text(r[0], ".", r[1], ".", r[2], ".", r[2] if last is None else last)

    def _elsewhere(self, province: np.ndarray) -> np.ndarray:
        """Rows of the geography table in a province other than `province`."""
        row = self.rng.integers(0, len(self.geo_province), len(province))
        while (same := self.geo_province[row] == province).any():
            row[same] = self.rng.integers(0, len(self.geo_province), same.sum())
        return row

    def _in_quiet_stretch(self, users: np.ndarray, length: np.ndarray, margin: int) -> np.ndarray:
        """A start time leaving `length` seconds and a `margin` on both sides inside the user's quiet stretch."""
        room = self.gap[users] - 2 * margin - length
        return self.gap_start[users] + margin + (self.rng.random(len(users)) * room).astype(np.int64)

    # ---- login patterns ----------------------------------------------------------------
    def device_groups(self, pattern: str, share: float, size: tuple[int, int], span_days: tuple[float, float]) -> None:
        """Groups of users of one province logging in on one shared device (farm or family tablet),
        in the days before the members' own latest logins."""
        groups = _count(share * self.n / np.mean(size), self.rng)
        recent = self.last_ts >= self.end - 60 * DAY
        order = self.rng.permutation(np.flatnonzero(recent & ~self.taken))
        order = order[np.argsort(self.province[order], kind="stable")]
        sizes = self.rng.integers(size[0], size[1] + 1, len(order) // size[0] + 1)
        ends = np.cumsum(sizes)
        sizes, ends = sizes[ends <= len(order)], ends[ends <= len(order)]
        starts = ends - sizes
        local = np.flatnonzero(self.province[order[starts]] == self.province[order[ends - 1]])
        chosen = np.sort(self.rng.permutation(local)[:groups])
        if not len(chosen):
            return
        sizes = sizes[chosen]
        group = np.repeat(np.arange(len(chosen)), sizes)
        members = order[np.repeat(starts[chosen], sizes) + _positions(sizes)]
        self.taken[members] = True
        owner = order[starts[chosen]]
        until = np.minimum.reduceat(self.last_ts[members], np.cumsum(sizes) - sizes) - HOUR
        days = np.minimum(self.rng.uniform(*span_days, len(chosen)), (until - (self.end - 88 * DAY)) / DAY)
        per = self.rng.integers(2, 5, len(members))
        row_user, row_group = np.repeat(members, per), np.repeat(group, per)
        ts = until[row_group] - (self.rng.random(len(row_user)) * days[row_group] * DAY).astype(np.int64)
        name = _text(_DEVICE_NAMES[pattern], "-", self.prefix, "-", np.arange(len(chosen)))
        ip = self._ips(len(chosen))[row_group]
        home = self.province[owner][row_group]
        self._login(self.ids[row_user], ts, ip, home, home, self.city[owner][row_group], device=name[row_group], like=self.ids[owner][row_group])
        self._label(pattern, self.ids[row_user], ts, name[row_group])

    def login_pair(self, pattern: str, share: float, gap: tuple[int, int]) -> None:
        """Two logins on the user's phone, the second in another province `gap` seconds later."""
        users = self._pick(self.gap >= 6 * HOUR + gap[1] + HOUR, _count(share * self.n, self.rng))
        k = len(users)
        length = self.rng.integers(gap[0], gap[1] + 1, k)
        first = self._in_quiet_stretch(users, length, 3 * HOUR)
        away = self._elsewhere(self.province[users])
        ids, home = self.ids[users], self.province[users]
        ts = np.concatenate([first, first + length])
        self._login(
            np.concatenate([ids, ids]), ts, self._ips(2 * k, 1),
            np.concatenate([home, self.geo_province[away]]), np.concatenate([home, self.geo_province[away]]),
            np.concatenate([self.city[users], self.geo_city[away]]),
        )
        self._label(pattern, np.concatenate([ids, ids]), ts)

    def login_run(self, pattern: str, share: float, logins: tuple[int, int], minutes: tuple[float, float]) -> None:
        """Several logins from distinct IPs within `minutes`; a burst comes from a new device
        behind proxies in other provinces, a commuter's from their phone changing networks."""
        users = self._pick(self.gap >= 8 * HOUR, _count(share * self.n, self.rng))
        per = self.rng.integers(logins[0], logins[1] + 1, len(users))
        span = self.rng.uniform(*minutes, len(users)) * MINUTE
        start = self._in_quiet_stretch(users, span.astype(np.int64), 3 * HOUR)
        row, position = np.repeat(np.arange(len(users)), per), _positions(per)
        ts = start[row] + (position / (per[row] - 1) * span[row]).astype(np.int64)
        user, home = self.ids[users][row], self.province[users][row]
        burst = pattern == "login_burst"
        ip_province = self.geo_province[self._elsewhere(home)] if burst else home
        device = _text(user, "-x1") if burst else None
        self._login(user, ts, self._ips(len(row), position + 2), ip_province, home, self.city[users][row], device=device)
        self._label(pattern, user, ts)

    # ---- fund-flow patterns ------------------------------------------------------------
    def rings(self, pattern: str, share: float, size: tuple[int, int], rounds: tuple[int, int], amount: tuple[float, float], kind: str) -> None:
        """Groups passing money round a cycle, member to member, a few rounds days apart.
        A fraud ring's first member is the already-flagged seed."""
        sizes = self.rng.integers(size[0], size[1] + 1, _count(share * self.n / np.mean(size), self.rng))
        members = self._pick(self.deep, int(sizes.sum()))
        sizes = sizes[np.cumsum(sizes) <= len(members)]
        if not len(sizes):
            return
        members = members[: sizes.sum()]
        g = len(sizes)
        group, position = np.repeat(np.arange(g), sizes), _positions(sizes)
        receiver = members[np.repeat(np.cumsum(sizes) - sizes, sizes) + (position + 1) % sizes[group]]
        laps = self.rng.integers(rounds[0], rounds[1] + 1, g)
        row = np.repeat(np.arange(len(members)), laps[group])
        lap, rg = _positions(laps[group]), group[row]
        start = self.end - (self.rng.uniform(30, 85, g) * DAY).astype(np.int64)
        every = self.rng.uniform(3, 6, g) * DAY
        ts = start[rg] + (lap * every[rg] + position[row] * self.rng.uniform(0.5, 3, len(row)) * HOUR).astype(np.int64)
        value = self.rng.uniform(*amount, g)[rg] * (1 - 0.01 * position[row]) * self.rng.uniform(0.97, 1.03, len(row))
        sender, to = self.ids[members[row]], self.ids[receiver[row]]
        self._transfer(sender, ts, kind, "out", value, to)
        self._transfer(to, ts + 30, kind, "in", value, sender)
        name = _text("ring-" if pattern == "fraud_ring" else "friends-", self.prefix, "-", np.arange(g))
        user, when, ring = np.concatenate([sender, to]), np.concatenate([ts, ts + 30]), np.concatenate([name[rg], name[rg]])
        self._label(pattern, user, when, ring)
        if pattern == "fraud_ring":
            self.seeds, self.seed_rings = self.ids[members[np.cumsum(sizes) - sizes]], name
            seed = np.isin(user, self.seeds)
            self._label("flagged_seed", user[seed], when[seed], ring[seed])

    def flagged_contacts(self, share: float) -> None:
        """Users with one or two transfers, either way, with an already-flagged seed."""
        if not len(self.seeds):
            return
        users = self._pick(self.deep, _count(share * self.n, self.rng))
        per = self.rng.integers(1, 3, len(users))
        row = np.repeat(np.arange(len(users)), per)
        seed = self.rng.integers(0, len(self.seeds), len(users))[row]
        ts = self.end - (self.rng.uniform(1, 85, len(row)) * DAY).astype(np.int64)
        out = self.rng.random(len(row)) < 0.5
        value = self.rng.uniform(200, 3000, len(row))
        user = self.ids[users][row]
        self._transfer(user, ts, "transfer", np.where(out, "out", "in"), value, self.seeds[seed])
        self._transfer(self.seeds[seed], ts + 30, "transfer", np.where(out, "in", "out"), value, user)
        self._label("flagged_contact", user, ts, self.seed_rings[seed])

    def receipts(self, pattern: str, share: float, count: tuple[int, int], main_payers: int, amounts) -> None:
        """Many transfers received within 20 days: a collection account's mostly from up to
        `main_payers` accounts (large amounts), a small shop's each from a new customer."""
        users = self._pick(self.deep & ~self.receives, _count(share * self.n, self.rng))
        per = self.rng.integers(count[0], count[1] + 1, len(users))
        row, position = np.repeat(np.arange(len(users)), per), _positions(per)
        start = self.end - (self.rng.uniform(25, 85, len(users)) * DAY).astype(np.int64)
        ts = start[row] + (self.rng.random(len(row)) * self.rng.uniform(5, 20, len(users))[row] * DAY).astype(np.int64)
        main = ((position < 3) | (self.rng.random(len(row)) < 0.85)) & (main_payers > 0)
        payers = self.rng.integers(1, max(main_payers, 1) + 1, len(users))[row]
        payer = np.where(main, position % payers, position + main_payers)
        value = np.where(main, self.rng.uniform(*amounts[0], len(row)), self.rng.uniform(*amounts[1], len(row)))
        user = self.ids[users][row]
        self._transfer(user, ts, "transfer", "in", value, _text("acct-", self.prefix, "-", pattern[0], row, "-", payer))
        self._label(pattern, user, ts)

    def payment_habits(self, pattern: str, share: float, shift: bool) -> None:
        """A habit shift: payments concentrated on one or two categories, then spread over twelve
        from a time 30-45 days before the end. A diverse spender: spread over twelve throughout."""
        k = _count(share * self.n, self.rng)
        pool = self.rng.permutation(np.flatnonzero(self.deep & ~self.taken))[: 8 * k + 50]
        split = self.end - (self.rng.uniform(30, 45, len(pool)) if shift else np.full(len(pool), 30.0)) * DAY
        candidates = pl.DataFrame({"user_id": pl.Series(self.ids[pool], dtype=pl.String), "split": split.astype(np.int64), "rank": np.arange(len(pool))})
        payments = (
            self.frames["payment"].filter(pl.col("user_id").is_in(candidates["user_id"].implode()))
            .join(candidates, on="user_id")
            .with_columns(after=pl.col("ts").dt.epoch("s") >= pl.col("split"))
        )
        window = pl.col("after") & (pl.col("ts").dt.epoch("s") < pl.col("split") + WINDOW_DAYS * DAY)
        enough = (
            payments.group_by("user_id", "rank")
            .agg(window.sum().alias("recent"), (~pl.col("after")).sum().alias("before"))
            .filter((pl.col("recent") >= HABIT_PAYMENTS) & (pl.col("before") >= (10 if shift else HABIT_PAYMENTS)))
            .sort("rank")
            .head(k)
        )
        self.taken[pool[enough["rank"].to_numpy()]] = True
        changed = payments.filter(pl.col("rank").is_in(enough["rank"].implode())).sort("user_id", "ts", "event_id")
        spread = (
            pl.col("ts").rank("ordinal").over("user_id", "after") if shift else pl.col("ts").rank("ordinal").over("user_id")
        )
        changed = changed.with_columns(spread.cast(pl.Int64).alias("nth"))
        m = changed.height
        offset, usual = self.rng.integers(0, 12, enough.height), self.rng.integers(0, 6, (2, enough.height))
        user_no = changed["user_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
        nth, after = changed["nth"].to_numpy(), changed["after"].to_numpy()
        spread_no = (nth + offset[user_no]) % len(SPREAD_CATEGORIES)
        habit_no = np.where(self.rng.random(m) < 0.85, usual[0][user_no], usual[1][user_no])
        category = np.array(SPREAD_CATEGORIES)[np.where(after | (not shift), spread_no, habit_no)]
        changed = changed.with_columns(merchant_category=pl.Series(category, dtype=pl.String))
        self.payments.append(changed.drop("split", "rank", "after", "nth"))
        marked = changed.filter(pl.col("after") | (not shift))
        self._label(pattern, marked["user_id"].to_numpy().astype(object), marked["ts"].dt.epoch("s").to_numpy())

    # ---- result ------------------------------------------------------------------------
    def result(self) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
        frames = dict(self.frames)
        if self.logins:
            planted = (
                pl.concat(self.logins)
                .join(self.device.drop("phone_province").rename({"user_id": "like", "device_id": "own_device"}), on="like", how="left", maintain_order="left")
                .join(self.device.select("user_id", "phone_province"), on="user_id", how="left", maintain_order="left")
                .with_columns(device_id=pl.coalesce("device_id", "own_device"))
            )
            frames["login"] = pl.concat([frames["login"], _events("login", planted, f"{self.prefix}ql")])
        if self.transfers:
            planted = pl.concat(self.transfers).with_columns(amount=pl.col("cents").cast(MONEY_DTYPE) / 100)
            frames["transfer"] = pl.concat([frames["transfer"], _events("transfer", planted, f"{self.prefix}qt")])
        if self.payments:
            changed = pl.concat(self.payments).select(frames["payment"].columns)
            kept = frames["payment"].filter(~pl.col("user_id").is_in(changed["user_id"].unique().implode()))
            frames["payment"] = pl.concat([kept, changed])
        labels = pl.concat(self.labels) if self.labels else pl.DataFrame(schema={"user_id": pl.String, "pattern": pl.String, "ring_id": pl.String, "ts": pl.Int64})
        labels = (
            labels.group_by("user_id", "pattern", "ring_id")
            .agg(pl.col("ts").min())
            .select(
                "user_id", "pattern", pl.col("pattern").is_in(list(FRAUD_PATTERNS)).alias("fraud"), "ring_id",
                (pl.col("ts") * 1_000_000).cast(TIME_DTYPE).alias("planted_at"),
            )
            .sort("pattern", "user_id", "ring_id", nulls_last=True)
        )
        return frames, labels.cast(dict(LABEL_SCHEMA))


def _events(event_type: str, planted: pl.DataFrame, prefix: str) -> pl.DataFrame:
    """Planted rows as events of `event_type`: new ids under `prefix`, the stored column types."""
    planted = planted.with_columns(
        event_id=pl.format("{}-{}", pl.lit(prefix), pl.int_range(pl.len())),
        ts=(pl.col("ts") * 1_000_000).cast(TIME_DTYPE),
        schema_version=pl.lit(1),
    )
    schema = frame_schema(event_type)
    return planted.select([pl.col(c).cast(t) if c in planted.columns else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()])
