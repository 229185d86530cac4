"""Synthetic users: the latent traits that the event generator turns into behaviour.

SYNTHETIC DATA. Each user belongs to a latent segment, "eligible-like" or not, whose
share depends on the region tier; every trait is drawn from the segment's
distribution, calibrated so that the *outcomes* resemble the seed figures
(docs/synthetic.md compares them). Nothing here is real user data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

PROVINCE_WEIGHTS = {
    "Guangdong": 9.0, "Shandong": 7.2, "Henan": 7.0, "Jiangsu": 6.0, "Sichuan": 5.9, "Hebei": 5.3,
    "Hunan": 4.7, "Zhejiang": 4.6, "Anhui": 4.3, "Hubei": 4.1, "Guangxi": 3.5, "Yunnan": 3.3,
    "Jiangxi": 3.2, "Liaoning": 3.0, "Fujian": 2.9, "Shaanxi": 2.8, "Guizhou": 2.7, "Shanxi": 2.5,
    "Chongqing": 2.3, "Heilongjiang": 2.2, "Xinjiang": 1.8, "Gansu": 1.8, "InnerMongolia": 1.7,
    "Shanghai": 1.8, "Jilin": 1.7, "Beijing": 1.5, "Tianjin": 1.0, "Hainan": 0.7, "Ningxia": 0.5,
    "Qinghai": 0.4, "Xizang": 0.3,
}
BANKS = [f"bank-{i:02d}" for i in range(1, 25)]
TIER_SHARE = {"tier1": 0.30, "new_tier1": 0.30, "other": 0.20, "county": 0.20}


@dataclass(frozen=True)
class SynthConfig:
    """Calibration knobs of the synthetic population (not policy: they describe the data)."""

    eligible_share_by_tier: dict[str, float] = field(
        default_factory=lambda: {"tier1": 0.78, "new_tier1": 0.64, "other": 0.50, "county": 0.28}
    )
    payments_per_month: tuple[float, float] = (29.0, 5.5)  # eligible-like, other (means)
    offline_share: tuple[float, float] = (0.48, 0.18)
    wealth_holder: tuple[float, float] = (0.98, 0.35)
    wealth_days: tuple[float, float] = (143.0, 27.0)
    credit_years: tuple[float, float] = (4.4, 1.8)
    bureau_shared: tuple[float, float] = (0.97, 0.55)
    full_sharing: tuple[float, float] = (0.55, 0.12)
    class_three: tuple[float, float] = (0.985, 0.15)
    bill_payer: tuple[float, float] = (0.96, 0.29)
    new_version_share: tuple[float, float] = (0.86, 0.45)
    student_share: float = 0.03
    quarterly_change: float = 0.10  # a quarter on, this share of users are redrawn (a new job, a move, hard times)
    contacts_mean: float = 3.0


def generate_users(n: int, first_index: int, rng: np.random.Generator, geography: pl.DataFrame, cfg: SynthConfig) -> pl.DataFrame:
    """Latent traits of users `first_index .. first_index + n - 1` (one row each)."""
    idx = np.arange(first_index, first_index + n)
    tiers = np.array(list(TIER_SHARE))
    tier = tiers[rng.choice(len(tiers), n, p=list(TIER_SHARE.values()))]
    province, city = _place(tier, rng, geography)
    eligible = rng.random(n) < np.vectorize(cfg.eligible_share_by_tier.get)(tier)
    e = eligible

    def pick(pair: tuple[float, float]) -> np.ndarray:
        return np.where(e, pair[0], pair[1])

    payments_rate = rng.gamma(np.where(e, 12.0, 2.2), pick(cfg.payments_per_month) / np.where(e, 12.0, 2.2))
    concentration = np.where(e, 30.0, 12.0)
    offline_share = rng.beta(pick(cfg.offline_share) * concentration, (1 - pick(cfg.offline_share)) * concentration)
    # Month weights: steady spenders (Dirichlet with large alpha) vs erratic ones.
    alpha = np.where(e, 8.0, 0.35)[:, None]
    month_weights = rng.gamma(np.repeat(alpha, 3, axis=1), 1.0)
    month_weights /= month_weights.sum(axis=1, keepdims=True)
    night_share = np.clip(rng.beta(np.where(e, 1.2, 1.5), np.where(e, 22.0, 10.0)), 0, 1)
    night_share = np.where(~e & (rng.random(n) < 0.07), rng.uniform(0.3, 0.6, n), night_share)

    wealth_holder = rng.random(n) < pick(cfg.wealth_holder)
    wealth_days = np.where(
        e,
        90 + rng.gamma(1.6, (cfg.wealth_days[0] - 90) / 1.6, n) - 60 * (rng.random(n) < 0.02),
        rng.exponential(cfg.wealth_days[1], n),
    )
    wealth_days = np.clip(wealth_days, 1, 3000).astype(np.int64)
    wealth_balance = np.round(np.exp(rng.normal(np.where(e, 9.0, 6.3), 1.0)), 2)

    credit_years = np.where(
        e, 3.0 + rng.gamma(1.5, (cfg.credit_years[0] - 3.0) / 1.5, n) - 1.5 * (rng.random(n) < 0.03), rng.gamma(1.6, cfg.credit_years[1] / 1.6, n)
    )
    credit_years = np.clip(credit_years, 0.05, 30)

    contacts = rng.poisson(cfg.contacts_mean, n)
    risky_contact_p = np.where(e, 0.02, 0.09)
    risky_contact_p = np.where(~e & (rng.random(n) < 0.08), 0.55, risky_contact_p)

    # KYC: class III (>=3 debit banks, face + ID, recent card repayment) or mostly class II.
    class_three = rng.random(n) < pick(cfg.class_three)
    debit_banks = np.where(class_three, 3 + rng.poisson(0.8, n), rng.choice([0, 1, 1, 1, 2, 2], n))
    face = class_three | (rng.random(n) < 0.43)
    id_both = class_three | (rng.random(n) < 0.40)
    cc_repayments = np.where(class_three, 1 + rng.poisson(1.5, n), (rng.random(n) < 0.17) * (1 + rng.poisson(1.0, n)))
    id_expired_days = np.where(rng.random(n) < np.where(e, 0.004, 0.03), rng.integers(91, 900, n), rng.integers(-3000, -30, n))
    id_expired_days = np.where(rng.random(n) < 0.01, rng.integers(1, 90, n), id_expired_days)

    bill_payer = rng.random(n) < pick(cfg.bill_payer)
    red_in = rng.poisson(np.where(e, 2.0, 1.5))
    red_out = rng.poisson(np.where(e, 2.0, 1.0))
    one_way = ~e & (rng.random(n) < 0.05)
    red_in = np.where(one_way, 10 + rng.poisson(4, n), red_in)
    red_out = np.where(one_way, 0, red_out)
    dormant = ~e & (rng.random(n) < 0.04)

    bureau_shared = rng.random(n) < pick(cfg.bureau_shared)
    bureau_refused = ~bureau_shared & (rng.random(n) < 0.12)
    full = bureau_shared & (rng.random(n) < pick(cfg.full_sharing) / pick(cfg.bureau_shared))
    extra_categories = np.where(full, 3, np.where(rng.random(n) < 0.5, rng.integers(0, 3, n), 0))
    queries = np.where(e, rng.poisson(5.2, n), rng.poisson(2.6, n))
    queries = np.where(~e & (rng.random(n) < 0.04), rng.integers(13, 30, n), queries)

    # Device: target grade A/B/C, then findings consistent with it.
    os = np.where(rng.random(n) < 0.74, "android", np.where(rng.random(n) < 0.92, "ios", "harmony"))
    grade = np.where(
        rng.random(n) < np.where(e, 0.55, 0.10), "A", np.where(rng.random(n) < np.where(e, 0.955, 0.69), "B", "C")
    )
    android = os == "android"
    unknown_sources = android & (
        ((grade == "B") & (rng.random(n) < 0.45)) | ((grade == "C") & (rng.random(n) < 0.7))
    )
    minor = np.where(
        grade == "A",
        rng.integers(0, 4, n),
        np.where(unknown_sources, np.where(grade == "B", rng.integers(0, 5, n), rng.integers(5, 12, n)), np.where(grade == "B", rng.integers(4, 11, n), rng.integers(11, 20, n))),
    )
    closing = (grade == "C") & (rng.random(n) < 0.78)
    which_closing = rng.integers(0, 3, n)
    rooted = closing & (which_closing == 0)
    modified = closing & (which_closing == 1)
    malware = closing & (which_closing == 2)
    risky_wifi_user = rng.random(n) < np.where(e, 0.005, 0.03)
    switcher = rng.random(n) < np.where(e, 0.004, 0.05)

    version_band = np.where(
        rng.random(n) < pick(cfg.new_version_share),
        40,
        np.where(rng.random(n) < 0.75, 30, np.where(rng.random(n) < 0.72, 20, 10)),
    )
    client_version = [f"8.0.{b + v}" for b, v in zip(version_band, rng.integers(0, 10, n))]

    # Location: all three signals agree for most users; one disagrees for some; all differ for few.
    location_mode = rng.choice(3, n, p=[0.955, 0.035, 0.010])
    student = rng.random(n) < cfg.student_share
    return pl.DataFrame(
        {
            "user_id": _user_ids(idx),
            "eligible_like": e,
            "tier": tier,
            "province": province,
            "city": city,
            "payments_rate": payments_rate,
            "offline_share": offline_share,
            "month_w0": month_weights[:, 0],
            "month_w1": month_weights[:, 1],
            "month_w2": month_weights[:, 2],
            "night_share": night_share,
            "wealth_holder": wealth_holder,
            "wealth_days": wealth_days,
            "wealth_balance": wealth_balance,
            "credit_years": credit_years,
            "contacts": contacts,
            "risky_contact_p": risky_contact_p,
            "debit_banks": debit_banks,
            "face": face,
            "id_both": id_both,
            "cc_repayments": cc_repayments,
            "id_expired_days": id_expired_days,
            "bill_payer": bill_payer,
            "red_in": red_in,
            "red_out": red_out,
            "dormant": dormant,
            "bureau_shared": bureau_shared,
            "bureau_refused": bureau_refused,
            "extra_categories": extra_categories,
            "queries": queries,
            "os": os,
            "grade": grade,
            "unknown_sources": unknown_sources,
            "minor_checks": minor,
            "rooted": rooted,
            "modified_client": modified,
            "malware": malware,
            "risky_wifi_user": risky_wifi_user,
            "switcher": switcher,
            "client_version": client_version,
            "location_mode": location_mode,
            "student": student,
        }
    )


def _user_ids(idx: np.ndarray) -> pl.Series:
    return pl.select(pl.lit("u") + pl.Series(idx).cast(pl.String).str.zfill(8)).to_series()


def _place(tier: np.ndarray, rng: np.random.Generator, geography: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Pick a city of the user's tier, provinces weighted by population."""
    province = np.empty(len(tier), dtype=object)
    city = np.empty(len(tier), dtype=object)
    for name in TIER_SHARE:
        mask = tier == name
        rows = geography.filter(pl.col("tier") == name)
        weights = np.array([PROVINCE_WEIGHTS.get(p, 1.0) for p in rows["province"].to_list()])
        chosen = rng.choice(rows.height, mask.sum(), p=weights / weights.sum())
        province[mask] = np.array(rows["province"].to_list(), dtype=object)[chosen]
        city[mask] = np.array(rows["city"].to_list(), dtype=object)[chosen]
    return province.astype(str), city.astype(str)
