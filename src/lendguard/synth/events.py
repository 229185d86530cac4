"""Turn synthetic users' latent traits into events of every type (vectorised with NumPy).

SYNTHETIC DATA: about 90 days of behaviour ending at the as-of time, plus the
state-setting events (cards, identity, holdings, partner reports) dated earlier.
"""

from __future__ import annotations

import datetime as dt
import zlib
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from lendguard.events.columns import MONEY_DTYPE, frame_schema
from lendguard.policy import Policy
from lendguard.synth.population import BANKS

DAY = 86_400
WINDOW_DAYS = 90


class _Clock:
    """Epoch-second arithmetic in the policy's local time zone (fixed offset at as-of)."""

    def __init__(self, as_of: dt.datetime, timezone: str):
        self.end = int(as_of.timestamp())
        self.offset = int(as_of.astimezone(ZoneInfo(timezone)).utcoffset().total_seconds())

    def at_local_hour(self, days_ago: np.ndarray, hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Times `days_ago` before the end, moved to the given local hour (kept inside the window)."""
        base = self.end - (days_ago * DAY).astype(np.int64)
        local_midnight = (base + self.offset) // DAY * DAY - self.offset
        ts = local_midnight + hour.astype(np.int64) * 3600 + rng.integers(0, 3600, len(hour))
        ts = np.where(ts > self.end, ts - DAY, ts)
        return np.where(ts <= self.end - WINDOW_DAYS * DAY, ts + DAY, ts)

    def uniform(self, low_days: float, high_days: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """Times uniformly between `high_days` and `low_days` before the end."""
        return self.end - (rng.uniform(low_days, high_days, n) * DAY).astype(np.int64) - 1

    def date(self, days_ago: np.ndarray) -> np.ndarray:
        local = (self.end + self.offset) // DAY - days_ago.astype(np.int64)
        return local.astype("datetime64[D]")


def _times(epoch_seconds: np.ndarray) -> pl.Series:
    return pl.Series(epoch_seconds.astype(np.int64) * 1_000_000).cast(pl.Datetime("us", "UTC"))


def _money(values: np.ndarray) -> pl.Series:
    cents = np.maximum(np.round(values * 100).astype(np.int64), 1)
    # Scale 2 before dividing: a scale-0 decimal divided by 100 keeps scale 0 and loses the cents.
    return (pl.Series(cents).cast(pl.Decimal(18, 2)) / 100).cast(MONEY_DTYPE)


def _where(mask: np.ndarray, values) -> pl.Series:
    """`values` where `mask` holds, null elsewhere."""
    values = values if isinstance(values, pl.Series) else pl.Series(np.broadcast_to(values, mask.shape))
    return pl.select(pl.when(pl.Series(mask)).then(values)).to_series()


def _frame(event_type: str, prefix: str, users: np.ndarray, ts: np.ndarray, **columns) -> pl.DataFrame:
    n = len(users)
    ids = pl.select(pl.lit(f"{prefix}-") + pl.Series(np.arange(n)).cast(pl.String)).to_series()
    data = {"event_id": ids, "user_id": pl.Series(users, dtype=pl.String), "ts": _times(ts), **columns, "schema_version": np.ones(n, dtype=np.int16)}
    schema = frame_schema(event_type)
    return pl.DataFrame(data).select([pl.col(c).cast(t) if c in data else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()])


def generate_events(users: pl.DataFrame, as_of: dt.datetime, policy: Policy, rng: np.random.Generator, id_prefix: str) -> dict[str, pl.DataFrame]:
    clock = _Clock(as_of, policy.timezone)
    u = {c: users[c].to_numpy() for c in users.columns}
    ids = u["user_id"]
    n = len(ids)
    out: dict[str, pl.DataFrame] = {}

    # ---- payments -------------------------------------------------------------------
    counts = rng.poisson(u["payments_rate"] * 3)
    counts = np.where(u["dormant"], rng.integers(2, 6, n), counts)
    owner = np.repeat(np.arange(n), counts)
    k = len(owner)
    weights = np.stack([u["month_w0"], u["month_w1"], u["month_w2"]], axis=1)[owner]
    month = (rng.random(k)[:, None] > np.cumsum(weights, axis=1)).sum(axis=1).clip(0, 2)
    days_ago = month * 30 + rng.random(k) * 30
    days_ago = np.where(u["dormant"][owner], 70 + rng.random(k) * 19, days_ago)
    night = rng.random(k) < u["night_share"][owner]
    hour = np.where(night, rng.choice([23, 0, 1, 2, 3, 4], k), rng.integers(7, 23, k))
    offline = rng.random(k) < u["offline_share"][owner]
    amount = np.exp(rng.normal(np.where(u["eligible_like"][owner], 4.1, 3.8), 0.9))
    out["payment"] = _frame(
        "payment", f"{id_prefix}p", ids[owner], clock.at_local_hour(days_ago, hour, rng),
        amount=_money(amount),
        channel=np.where(offline, "offline_qr", "online"),
        counterparty=pl.select(pl.lit("m") + pl.Series(rng.integers(0, 50_000, k)).cast(pl.String)).to_series(),
        merchant_category=rng.choice(["food", "grocery", "transport", "retail", "services", "entertainment"], k),
    )

    # ---- transfers and red packets ------------------------------------------------------
    red_in, red_out = u["red_in"], u["red_out"]
    transfer_counts = rng.poisson(1.0, n)
    owner_in = np.repeat(np.arange(n), red_in)
    owner_out = np.repeat(np.arange(n), red_out)
    owner_tr = np.repeat(np.arange(n), transfer_counts)
    dormant_owner = np.flatnonzero(u["dormant"])
    all_owner = np.concatenate([owner_in, owner_out, owner_tr, dormant_owner])
    kinds = np.concatenate([np.full(len(owner_in) + len(owner_out), "red_packet"), np.full(len(owner_tr) + len(dormant_owner), "transfer")])
    direction = np.concatenate([np.full(len(owner_in), "in"), np.full(len(owner_out), "out"), rng.choice(["in", "out"], len(owner_tr)), np.full(len(dormant_owner), "out")])
    t_amount = np.concatenate([np.exp(rng.normal(3.0, 0.8, len(owner_in) + len(owner_out))), np.exp(rng.normal(5.5, 1.0, len(owner_tr))), rng.uniform(6000, 30000, len(dormant_owner))])
    regular = len(all_owner) - len(dormant_owner)
    # Dormant users move no money between ~70 days ago and their recent large transfer.
    regular_days = np.where(u["dormant"][all_owner[:regular]], 70 + rng.random(regular) * 19, rng.random(regular) * 89.9)
    t_days = np.concatenate([regular_days, rng.random(len(dormant_owner)) * 20])
    out["transfer"] = _frame(
        "transfer", f"{id_prefix}t", ids[all_owner], clock.uniform(0, 0, len(all_owner), rng) - (t_days * DAY).astype(np.int64),
        kind=kinds, direction=direction, amount=_money(t_amount),
        counterparty=pl.select(pl.lit("a") + pl.Series(rng.integers(0, 1_000_000, len(all_owner))).cast(pl.String)).to_series(),
    )

    # ---- bills ------------------------------------------------------------------------
    bills = np.where(u["bill_payer"], 1 + rng.poisson(1.0, n), 0)
    owner = np.repeat(np.arange(n), bills)
    out["bill_payment"] = _frame(
        "bill_payment", f"{id_prefix}b", ids[owner], clock.uniform(0.01, 89.9, len(owner), rng),
        amount=_money(rng.uniform(30, 400, len(owner))),
        biller=rng.choice(["electricity", "water", "gas", "phone", "broadband"], len(owner)),
    )

    out["login"] = _logins(u, ids, clock, rng, id_prefix)
    out["device_security"] = _device_reports(u, ids, clock, rng, id_prefix)
    out.update(_kyc(u, ids, clock, rng, id_prefix))
    out["wealth_holding"] = _wealth(u, ids, clock, rng, id_prefix)
    out["partner_report"] = _partners(u, ids, clock, rng, id_prefix)

    # ---- social graph -------------------------------------------------------------------
    owner = np.repeat(np.arange(n), u["contacts"])
    out["social_contact"] = _frame(
        "social_contact", f"{id_prefix}s", ids[owner], clock.uniform(90, 900, len(owner), rng),
        contact_id=pl.select(pl.lit("c") + pl.Series(rng.integers(0, 10_000_000, len(owner))).cast(pl.String) + pl.lit("-") + pl.Series(np.arange(len(owner))).cast(pl.String)).to_series(),
        action=np.full(len(owner), "add"),
        relation=rng.choice(["friend", "family", "colleague", "other"], len(owner), p=[0.6, 0.15, 0.2, 0.05]),
        high_risk=rng.random(len(owner)) < u["risky_contact_p"][owner],
    )

    # ---- profile and consent --------------------------------------------------------------
    out["profile"] = _frame(
        "profile", f"{id_prefix}f", ids, clock.uniform(200, 2000, n, rng),
        customer_group=_where(u["student"], "student"),
        real_name_since=clock.date(rng.integers(200, 3000, n)),
        birth_year=np.where(u["student"], rng.integers(2002, 2008, n), rng.integers(1960, 2002, n)),
    )
    out["consent"] = _consents(u, ids, clock, rng, id_prefix, policy)
    out.update(_admission_signals(u, ids, clock, id_prefix))
    return out


def _admission_signals(u: dict, ids: np.ndarray, clock: _Clock, id_prefix: str) -> dict[str, pl.DataFrame]:
    """Monthly app-open counts and external scores, read by product admission. They draw
    from their own generator, so adding them left every other synthetic event unchanged."""
    n = len(ids)
    rng = np.random.default_rng([zlib.crc32(id_prefix.encode()), n, 2])
    good = u["eligible_like"]
    daily_opens = np.where(good, rng.gamma(6.0, 0.75, n), rng.gamma(2.0, 0.9, n))
    owner = np.repeat(np.arange(n), 3)
    month = np.tile(np.arange(3), n)
    opens = np.maximum(1, rng.poisson(daily_opens[owner] * 30))
    scored = np.flatnonzero(rng.random(n) < 0.9)  # about one user in ten has no external score
    score = np.clip(rng.normal(np.where(good, 680, 585), 55)[scored], 350, 950).astype(np.int64)
    return {
        "app_open": _frame(
            "app_open", f"{id_prefix}o", ids[owner], clock.uniform(0, 1, len(owner), rng) - (month * 30 * DAY).astype(np.int64),
            count=opens,
        ),
        "external_score": _frame(
            "external_score", f"{id_prefix}e", ids[scored], clock.uniform(1, 45, len(scored), rng),
            provider=np.full(len(scored), "sesame-like"), score=score,
        ),
    }


# The purposes users typically grant each layer for (kept to those the policy allows).
_TYPICAL_PURPOSES = {
    "basic_profile": ["account", "credit_scoring"],
    "phone_device": ["account", "anti_fraud"],
    "deep_credit": ["credit_scoring", "anti_fraud"],
}


def _consents(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str, policy: Policy) -> pl.DataFrame:
    """Layers 1 and 2 for everyone, the optional deep-credit layer for bureau sharers, and a
    few later withdrawals of it (about 1 in 50 grants) with their times."""
    n = len(ids)
    everyone = np.arange(n)
    deep = np.flatnonzero(u["bureau_shared"])
    withdrawn = deep[rng.random(len(deep)) < 0.02]
    scopes = np.concatenate([np.full(n, "basic_profile"), np.full(n, "phone_device"), np.full(len(deep), "deep_credit"), np.full(len(withdrawn), "deep_credit")])
    owner = np.concatenate([everyone, everyone, deep, withdrawn])
    actions = np.concatenate([np.full(2 * n + len(deep), "grant"), np.full(len(withdrawn), "withdraw")])
    granted_at = clock.uniform(100, 400, 2 * n + len(deep), rng)
    withdrawn_at = clock.uniform(1, 60, len(withdrawn), rng)
    version = policy.consent.current_text
    purposes = {
        scope: [p for p in typical if p in policy.consent.scopes[scope].purposes] or list(policy.consent.scopes[scope].purposes)
        for scope, typical in _TYPICAL_PURPOSES.items()
        if scope in policy.consent.scopes
    }
    return _frame(
        "consent", f"{id_prefix}c", ids[owner], np.concatenate([granted_at, withdrawn_at]),
        scope=scopes, action=actions,
        purposes=pl.Series([purposes[s] for s in scopes], dtype=pl.List(pl.String)),
        text_version=np.full(len(owner), version),
        text_hash=np.full(len(owner), policy.consent_text_hashes[version]),
    )


def _logins(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str) -> pl.DataFrame:
    n = len(ids)
    counts = 3 + rng.poisson(2.0, n)
    counts = np.where(u["switcher"], 12 + rng.poisson(4, n), counts)
    owner = np.repeat(np.arange(n), counts)
    k = len(owner)
    ts = clock.uniform(0.001, 89.9, k, rng)
    # Order each user's logins in time so the last one is the current device and client.
    order = np.lexsort((ts, owner))
    owner, ts = owner[order], ts[order]
    position = np.arange(k) - np.repeat(np.cumsum(counts) - counts, counts)
    last = position == np.repeat(counts - 1, counts)
    # The last login is on the current device "-d0"; switchers rotate over three devices before it.
    device_no = np.where(last, 0, np.where(u["switcher"][owner], position % 3, (rng.random(k) < 0.05).astype(np.int64)))
    device_id = pl.select(pl.Series(ids[owner]) + pl.lit("-d") + pl.Series(device_no).cast(pl.String)).to_series()
    province = u["province"][owner]
    other = _other_province(province, rng)
    mode = u["location_mode"][owner]
    # mode 0: all agree; 1: phone region differs; 2: all three differ.
    lbs = province
    phone = np.where(mode >= 1, other, province)
    ip = np.where(mode == 2, _other_province(other, rng), province)
    old_version = rng.choice(["8.0.18", "8.0.25", "8.0.33"], k)
    version = np.where(last | (rng.random(k) < 0.7), u["client_version"][owner], old_version)
    models = {"android": ["Xiaomi 14", "Huawei P60", "OPPO Reno11", "vivo X100", "Honor 90"], "ios": ["iPhone 15", "iPhone 14", "iPhone 13"], "harmony": ["Huawei Mate 60"]}
    os_ = u["os"][owner]
    model = np.where(os_ == "ios", rng.choice(models["ios"], k), np.where(os_ == "harmony", "Huawei Mate 60", rng.choice(models["android"], k)))
    return _frame(
        "login", f"{id_prefix}l", ids[owner], ts,
        device_id=device_id, device_model=model, os=os_, client_version=version,
        ip=pl.select(pl.lit("10.") + pl.Series(rng.integers(0, 255, k)).cast(pl.String) + pl.lit(".") + pl.Series(rng.integers(0, 255, k)).cast(pl.String) + pl.lit(".1")).to_series(),
        ip_province=ip, lbs_province=lbs, lbs_city=_where(mode != 2, u["city"][owner]), phone_province=phone,
    )


def _other_province(province: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    names = np.array(["Guangdong", "Henan", "Sichuan", "Hubei", "Hunan", "Anhui", "Jiangxi", "Guangxi"])
    pick = names[rng.integers(0, len(names), len(province))]
    return np.where(pick == province, "Yunnan", pick)


def _device_reports(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str) -> pl.DataFrame:
    n = len(ids)
    counts = np.where(u["risky_wifi_user"], 4, 1 + (rng.random(n) < 0.3))
    owner = np.repeat(np.arange(n), counts)
    k = len(owner)
    position = np.arange(k) - np.repeat(np.cumsum(counts) - counts, counts)
    # Reports come from the current device (the one of the user's last login: "-d0").
    device = pl.select(pl.Series(ids[owner]) + pl.lit("-d0")).to_series()
    ts = clock.end - ((counts[owner] - position) * rng.uniform(1, 20, k) * DAY).astype(np.int64)
    risky = np.where(u["risky_wifi_user"][owner], position < 3, False)
    return _frame(
        "device_security", f"{id_prefix}d", ids[owner], ts,
        device_id=device,
        rooted=u["rooted"][owner], modified_client=u["modified_client"][owner], unknown_sources=u["unknown_sources"][owner],
        malware=u["malware"][owner], risky_wifi=risky, checks_run=np.full(k, 124), failed_minor_checks=u["minor_checks"][owner],
    )


def _kyc(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str) -> dict[str, pl.DataFrame]:
    n = len(ids)
    debit = u["debit_banks"]
    owner = np.repeat(np.arange(n), debit)
    k = len(owner)
    position = np.arange(k) - np.repeat(np.cumsum(debit) - debit, debit)
    start = rng.integers(0, len(BANKS), n)[owner]
    bank = np.array(BANKS)[(start + position) % len(BANKS)]
    cards = _frame(
        "bank_card", f"{id_prefix}k", ids[owner], clock.uniform(30, 1500, k, rng),
        action=np.full(k, "bind"), card_id=pl.select(pl.Series(ids[owner]) + pl.lit("-card") + pl.Series(position).cast(pl.String)).to_series(),
        bank=bank, card_type=np.full(k, "debit"),
    )
    identity = _frame(
        "identity", f"{id_prefix}i", ids, clock.uniform(30, 1500, n, rng),
        face_verified=u["face"], id_front=u["id_both"] | (rng.random(n) < 0.3), id_back=u["id_both"],
        id_expiry=clock.date(u["id_expired_days"]),
    )
    reps = u["cc_repayments"]
    owner = np.repeat(np.arange(n), reps)
    repayments = _frame(
        "credit_card_repayment", f"{id_prefix}r", ids[owner], clock.uniform(1, 175, len(owner), rng),
        amount=_money(np.exp(rng.normal(7.0, 0.8, len(owner)))), bank=rng.choice(BANKS, len(owner)),
    )
    return {"bank_card": cards, "identity": identity, "credit_card_repayment": repayments}


def _wealth(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str) -> pl.DataFrame:
    holders = np.flatnonzero(u["wealth_holder"])
    k = len(holders)
    return _frame(
        "wealth_holding", f"{id_prefix}w", ids[holders], clock.uniform(0.5, 10, k, rng),
        product=rng.choice(["money-fund-a", "money-fund-b", "term-deposit-90"], k),
        balance=_money(u["wealth_balance"][holders]),
        since=clock.date(u["wealth_days"][holders]),
    )


def _partners(u: dict, ids: np.ndarray, clock: _Clock, rng: np.random.Generator, id_prefix: str) -> pl.DataFrame:
    n = len(ids)
    bureau = np.flatnonzero(u["bureau_shared"])
    refused = np.flatnonzero(u["bureau_refused"])
    extra = u["extra_categories"]
    extra_owner = np.repeat(np.arange(n), extra)
    position = np.arange(len(extra_owner)) - np.repeat(np.cumsum(extra) - extra, extra)
    extra_category = np.array(["bank_card", "insurance", "securities"])[position % 3]
    owner = np.concatenate([bureau, refused, extra_owner])
    category = np.concatenate([np.full(len(bureau) + len(refused), "bureau"), extra_category])
    shared = np.concatenate([np.ones(len(bureau), bool), np.zeros(len(refused), bool), np.ones(len(extra_owner), bool)])
    k = len(owner)
    is_bureau = np.arange(k) < len(bureau)
    institution = np.where(category == "bureau", "pboc-credit-center", np.char.add("partner-", rng.integers(1, 21, k).astype(str)))
    history_days = (u["credit_years"][owner] * 365.25).astype(np.int64)
    return _frame(
        "partner_report", f"{id_prefix}x", ids[owner], clock.uniform(1, 60, k, rng),
        institution=institution, category=category, shared=shared,
        credit_accounts=_where(is_bureau, 1 + rng.poisson(2.5, k)),
        queries_12m=_where(is_bureau, u["queries"][owner]),
        oldest_account_opened=_where(is_bureau, pl.Series(clock.date(history_days))),
        policies=_where(category == "insurance", 1 + rng.poisson(1.0, k)),
        assets=pl.Series([None] * k, dtype=MONEY_DTYPE),
    )
