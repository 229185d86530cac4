"""An independent, hand-written DuckDB reference for entry visibility (pass/fail flags only).

One SQL statement reads the event store's Parquet part files and computes, per user,
whether each of the eight dimensions passes and whether the entry is visible. It shares
no code with the Polars engine (features/ and visibility/dimensions/): it is written from
the same rules and the same `Policy` (every threshold is formatted in from the loaded
policy object, none is written here), so it serves two purposes:

* a cross-check: the engine and this query must agree for every user;
* the "practical limit" of the benchmark: how fast a single hand-tuned query over the
  same files can decide the same flags.

Semantics that matter for agreement (mirroring the engine):
* a user exists when any event of any type names them (even outside every window);
* a check blocks its dimension when it fails or is not assessable; a warning passes;
* conditions that evaluate to NULL do not trigger (SQL CASE/COALESCE as Polars `when`);
* consent: a check whose data uses (the engine's declaration, `visibility.data_use`,
  read here as data) are not all covered by grants in force at `consent_at` blocks
  (not assessable). The grants are computed here from the consent events and the
  policy's scopes, independently of the data gate. Human-review overrides are not
  applied (the benchmark's population has none).

Ties in event time within one user are ordered arbitrarily by both implementations
(the engine's sort is not stable); where that matters it is noted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from lendguard.events.columns import empty_frame
from lendguard.events.schema import EVENT_TYPES
from lendguard.features.window import AsOf
from lendguard.policy import Policy
from lendguard.visibility.check import DIMENSIONS
from lendguard.visibility.data_use import CHECK_USES

DIMENSION_NAMES = DIMENSIONS  # the eight dimensions, in the engine's order

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US_PER_DAY = 86_400 * 1_000_000
_SHARING_RANK = {"none": 0, "partial": 1, "full": 2}


# ---- literal formatting (values come from the policy, never from this file) ------------
def _str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _num(value: float | int | Decimal) -> str:
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"CAST({_str(str(value))} AS DECIMAL(18,2))"
    return f"CAST({_str(repr(float(value)))} AS DOUBLE)"


def _in(column: str, values: Iterable[str]) -> str:
    """`column IN (...)`; an empty list is never matched (NULL stays NULL like Polars is_in)."""
    values = list(values)
    if not values:
        return f"({column} IS NOT NULL AND FALSE)"
    return f"{column} IN ({', '.join(_str(v) for v in values)})"


def _ts(moment: dt.datetime) -> str:
    return f"TIMESTAMPTZ {_str(moment.astimezone(dt.timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f+00'))}"


def _us(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _date(day: dt.date) -> str:
    return f"DATE {_str(day.isoformat())}"


def _version_number(version: str) -> int:
    major, minor, patch = (int(p) for p in version.split("."))
    return major * 1_000_000 + minor * 1_000 + patch


def _bucket(text: str) -> str:
    """`(md5_number(text) % 10000)::INTEGER / 100.0` (the engine's bucket), computed fast.

    A UHUGEINT modulo is very slow in DuckDB (about 10 us a row); splitting the 128-bit
    number into its two 64-bit halves gives the same remainder with cheap UBIGINT maths:
    (hi * 2^64 + lo) mod m = ((hi mod m) * (2^64 mod m) + lo mod m) mod m.
    """
    m = _BUCKETS
    n = f"md5_number({text})"
    hi = f"(({n} >> 64)::UBIGINT % {m})"
    lo = f"(({n} & {(1 << 64) - 1}::UHUGEINT)::UBIGINT % {m})"
    return f"CAST((({hi} * {(1 << 64) % m} + {lo}) % {m})::INTEGER / 100.0 AS DOUBLE)"


_BUCKETS = 10_000


def _local_hour(timezone: str, start: dt.datetime, end: dt.datetime) -> str:
    """The local hour of `ts` for times in (start, end], by fixed offsets per stretch.

    ICU's time-zone conversion costs about 0.3 us a row; the zone's UTC offsets over the
    window are found here (zoneinfo) and applied as integer arithmetic, exact for every
    time inside the window (times outside it are never counted as night).
    """
    zone = ZoneInfo(timezone)

    def offset(moment: dt.datetime) -> int:
        return int(moment.astimezone(zone).utcoffset().total_seconds())

    stretches: list[tuple[int, int]] = []  # (first epoch second, offset) in time order
    step = dt.timedelta(hours=1)
    moment = start - dt.timedelta(days=1)
    current = offset(moment)
    stretches.append((0, current))
    while moment <= end + dt.timedelta(days=1):
        following = moment + step
        if offset(following) != current:
            low, high = moment, following  # the change happens in (low, high]
            while high - low > dt.timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            current = offset(high)
            stretches.append((int(high.timestamp()), current))
        moment = following
    seconds = "(epoch_us(ts) // 1000000)"
    if len(stretches) == 1:
        local = f"({seconds} + {stretches[0][1]})"
    else:
        cases = " ".join(f"WHEN {seconds} >= {first} THEN {seconds} + {off}" for first, off in reversed(stretches[1:]))
        local = f"(CASE {cases} ELSE {seconds} + {stretches[0][1]} END)"
    return f"(({local} // 3600) % 24)"


# ---- sources ---------------------------------------------------------------------------
def parquet_sources(con: duckdb.DuckDBPyConnection, part_files: Mapping[str, list]) -> dict[str, str]:
    """A FROM-clause expression per event type: its Parquet part files, or an empty typed relation."""
    sources = {}
    for event_type in EVENT_TYPES:
        files = [str(f) for f in part_files.get(event_type, [])]
        if files:
            sources[event_type] = "read_parquet([" + ", ".join(_str(f) for f in files) + "])"
        else:
            name = f"__empty_{event_type}"
            con.register(name, empty_frame(event_type).to_arrow())
            sources[event_type] = name
    return sources


# ---- the query -------------------------------------------------------------------------
def _consent_sql(policy: Policy, consent_at: dt.datetime, source: str) -> tuple[str, dict[str, str]]:
    """The grants-in-force CTEs and, per check code, a condition TRUE when all its data are consented.

    A use is covered by a grant for its purpose under the category's scope, or, for the
    aggregate form, also under the category's aggregate scope.
    """
    uses = sorted({use for check_uses in CHECK_USES.values() for use in check_uses}, key=lambda u: u.key)
    columns = []
    for use in uses:
        category = policy.consent.categories[use.category]
        scopes = [category.scope] + ([category.aggregate_scope] if use.form == "aggregate" and category.aggregate_scope else [])
        columns.append(f"coalesce(bool_or({_in('scope', scopes)} AND purpose = {_str(use.purpose)}), FALSE) AS {use.key}")
    # The latest action per (user, scope, purpose) wins; at equal times a withdrawal does.
    ctes = f"""grants AS (
  SELECT user_id, scope, purpose
  FROM (
    SELECT user_id, scope::VARCHAR AS scope, unnest(purposes) AS purpose, action::VARCHAR AS action, ts
    FROM {source} WHERE ts <= {_ts(consent_at)}
  )
  GROUP BY user_id, scope, purpose
  HAVING arg_max(action, epoch_us(ts) * 2 + (action = 'withdraw')::BIGINT) = 'grant'
),
avail AS (
  SELECT user_id,
    {(','+chr(10)+'    ').join(columns)}
  FROM grants
  GROUP BY user_id
),"""
    consented = {
        code: (" AND ".join(f"coalesce(avail.{u.key}, FALSE)" for u in check_uses) if check_uses else "TRUE")
        for code, check_uses in CHECK_USES.items()
    }
    return ctes, consented


def reference_query(
    policy: Policy,
    as_of: AsOf,
    sources: Mapping[str, str],
    risk_table: str = "risk_states",
    checks: bool = False,
    consent_at: dt.datetime | None = None,
    scorecard: Any = None,
) -> str:
    """One SELECT: user_id, dim_<name> (TRUE = passes) for the eight dimensions, visible.

    With `checks`, also one boolean per check code (TRUE = blocks: fails or not assessable).
    `risk_table` names a relation (user_id, risk_level, risk_since, risk_recovers_at).
    Grants are read as in force at `consent_at` (now by default, like the engine).
    `scorecard` (a `Scorecard`, read here as its table of bins and points) is required when
    the policy's credit dimension lists the score check CR05.
    """
    v = policy.visibility
    credit, region, kyc, pb = v.credit, v.region, v.kyc, v.payment_behaviour
    partner, device, gray, fraud = v.partner_data, v.device_security, v.gray_release, v.anti_fraud
    months = as_of.months
    at = as_of.at
    AT = _ts(at)
    AT_US = _us(at)

    def within(days: int | None = None, column: str = "ts") -> str:
        return f"({column} > {_ts(as_of.start(days))} AND {column} <= {AT})"

    W = within()
    UPTO = f"(ts <= {AT})"
    TODAY = _date(as_of.local_date)
    window_start_us = _us(as_of.start())
    seconds_per_month = as_of.days_per_month * 86_400

    # Night hours in the policy's time zone (night wraps midnight; the model checks it).
    local_hour = _local_hour(as_of.timezone, as_of.start(), at)
    is_night = f"({local_hour} >= {pb.night_start_hour} OR {local_hour} < {pb.night_end_hour})"

    month_sums = ",\n    ".join(
        f"coalesce(sum(amount::DOUBLE) FILTER (WHERE w AND m = {i}), 0.0) AS spend_{i}" for i in range(months)
    )
    spend = [f"coalesce(spend_{i}, 0.0)" for i in range(months)]
    spend_mean = f"(({' + '.join(spend)}) / {months}.0)"
    spend_spread = f"(greatest({', '.join(spend)}) - least({', '.join(spend)}))"

    # Dormant then suddenly large: a large move in the recent days whose previous move (in
    # the window; the window start when none) lies at least `dormant_days` earlier.
    dormant_us = pb.dormant_days * _US_PER_DAY
    moves = (
        f"(SELECT user_id, ts, amount FROM {sources['payment']} WHERE {W}"
        f" UNION ALL SELECT user_id, ts, amount FROM {sources['transfer']} WHERE {W})"
    )
    # The engine orders equal times arbitrarily; here a move at the same instant never
    # counts as "previous" (only strictly earlier moves do).
    categories = list(partner.categories)
    n_categories = len(categories)

    # Device score deductions.
    d = device.deductions
    wifi_hit_share = device.max_risky_wifi_share / 2

    # Gray release: bands highest first; the effective wave extra on the as-of date.
    extra = 0.0
    for wave in gray.waves:
        if wave.starts <= as_of.local_date:
            extra = wave.extra_percent
    version_num = (
        "(CAST(split_part(client_version, '.', 1) AS BIGINT) * 1000000"
        " + CAST(split_part(client_version, '.', 2) AS BIGINT) * 1000"
        " + CAST(split_part(client_version, '.', 3) AS BIGINT))"
    )
    rollout = "CASE " + " ".join(
        f"WHEN vnum >= {_version_number(b.min_version)} THEN {_num(min(100.0, b.rollout_percent + extra))}" for b in gray.bands
    ) + " END"
    lowest_band = _version_number(gray.bands[-1].min_version)
    batch_cases = []
    upper = 0.0
    for batch in gray.batches:
        lower, upper = upper, upper + batch.share_percent
        batch_cases.append(f"WHEN gray_batch_bucket >= {_num(lower)} AND gray_batch_bucket < {_num(upper)} THEN {_date(batch.opens)}")
    batch_open = "CASE " + " ".join(batch_cases) + " END"
    salt = gray.salt

    # Region: restricted customer groups.
    restricted = ["FALSE"]
    for group in region.restricted_groups:
        where = _in("city", group.cities) if group.cities else "TRUE"
        restricted.append(f"coalesce(customer_group = {_str(group.group)} AND {where}, FALSE)")

    # KYC switches from the policy.
    face_fail = "NOT face_verified" if kyc.require_face_verification else "FALSE"
    id_fail = "NOT (id_front AND id_back)" if kyc.require_id_both_sides else "FALSE"
    refusal = "(bureau_refused AND NOT bureau_shared)" if partner.bureau_refusal_blocks else "FALSE"
    closing = {f: (f if f in device.closing_checks else "FALSE") for f in ("rooted", "modified_client", "malware")}

    # Anti-fraud: R1 past its recovery time no longer hides.
    hidden = (
        f"({_in('risk_level', fraud.hiding_levels)} AND NOT (risk_level = 'R1' AND risk_recovers_at IS NOT NULL"
        f" AND risk_recovers_at <= {AT}))"
    )

    check_sql = {
        # 1 credit
        "CR01": f"payments / {months} < {_num(credit.min_payments_per_month)}",
        "CR02": f"coalesce(wealth_holding_days, -1) < {_num(credit.min_wealth_holding_days)}",
        "CR03": f"credit_history_years IS NULL OR credit_history_years < {_num(credit.min_credit_history_years)}",
        "CR04": f"high_risk_contact_share > {_num(credit.max_high_risk_contact_share)}",
        "CR05": "credit_score IS NULL OR credit_score < " + _num(float(credit.min_score)),
        # 2 region
        "RG01": f"location_signals = 0 OR location_agreement < {region.min_agreeing_location_signals}",
        "RG02": f"coalesce({_in('province', region.unlicensed_provinces)}, FALSE)",
        "RG03": f"coalesce({_in('city', region.fraud_focus_cities)}, FALSE)",
        "RG04": " OR ".join(restricted),
        # 3 kyc
        "KY01": f"debit_banks < {kyc.min_debit_banks}",
        "KY02": face_fail,
        "KY03": id_fail,
        "KY04": f"credit_card_repayments < {kyc.min_credit_card_repayments}",
        "KY05": f"id_expired_days IS NULL OR id_expired_days > {kyc.id_expiry_grace_days}",
        # 4 payment behaviour (warnings pass)
        "PB01": f"offline_share < {_num(pb.min_offline_share)}",
        "PB02": f"monthly_volatility > {_num(pb.max_monthly_volatility)}",
        "PB03": f"bill_payments_quarter < {pb.min_bill_payments_per_quarter}",
        "PB04": f"red_packets >= {pb.red_packet_min_count} AND red_packet_imbalance > {_num(pb.red_packet_max_imbalance)}",
        "PB05": f"night_share > {_num(pb.max_night_share)}",
        "PB06": "dormant_large",
        # 5 partner data
        "PD01": refusal,
        "PD02": f"sharing_rank < {_SHARING_RANK[partner.min_sharing_level]}",
        "PD03": f"coalesce(bureau_queries_12m, 0) > {partner.max_bureau_queries_per_year}",
        # 6 device security
        "DS01": closing["rooted"],
        "DS02": closing["modified_client"],
        "DS03": closing["malware"],
        "DS04": f"device_switches / {months} >= {_num(device.max_device_switches_per_month)}",
        "DS05": f"risky_wifi_share > {_num(device.max_risky_wifi_share)}",
        "DS06": f"security_score IS NULL OR security_score < {device.min_score}",
        # 7 gray release
        "GR01": f"vnum IS NULL OR vnum < {lowest_band}",
        "GR02": "rollout_percent IS NOT NULL AND NOT (gray_bucket < rollout_percent AND batch_open <= " + TODAY + ")",
        # 8 anti-fraud
        "AF01": hidden,
    }
    credit_checks = [c for c in ("CR01", "CR02", "CR03", "CR04", "CR05") if c in credit.checks]
    for code in {"CR01", "CR02", "CR03", "CR04", "CR05"} - set(credit_checks):
        del check_sql[code]
    score_sql = "NULL::DOUBLE"
    if "CR05" in credit_checks:
        if scorecard is None:
            raise ValueError("the policy decides by the score (CR05): pass the scorecard")
        aliases = {"payments_per_month": f"(payments / {months})"}
        aliases |= {f"spend_month_{i}": f"coalesce(spend_{i}, 0.0)" for i in range(months)}
        score_sql = scorecard_sql(scorecard, aliases)
    by_dimension = {
        "credit": credit_checks,
        "region": ["RG01", "RG02", "RG03", "RG04"],
        "kyc": ["KY01", "KY02", "KY03", "KY04", "KY05"],
        "payment_behaviour": ["PB01", "PB02", "PB03", "PB04", "PB05", "PB06"],
        "partner_data": ["PD01", "PD02", "PD03"],
        "device_security": ["DS01", "DS02", "DS03", "DS04", "DS05", "DS06"],
        "gray_release": ["GR01", "GR02"],
        "anti_fraud": ["AF01"],
    }
    consent_ctes, consented = _consent_sql(policy, consent_at or dt.datetime.now(dt.timezone.utc), sources["consent"])
    consent_columns = ",\n    ".join(f"{expr} AS consented_{code}" for code, expr in consented.items())
    check_columns = ",\n    ".join(
        f"(coalesce({expr}, FALSE) OR NOT consented_{code}) AS {code}" for code, expr in check_sql.items()
    )
    dim_columns = ",\n  ".join(
        f"NOT ({' OR '.join(codes)}) AS dim_{name}" for name, codes in by_dimension.items()
    )
    visible = " AND ".join(f"NOT ({' OR '.join(codes)})" for codes in by_dimension.values())
    extra_checks = (",\n  " + ", ".join(check_sql)) if checks else ""

    restricted_upto_partner = f"{UPTO} AND {_in('category', categories)}"

    return f"""
WITH
{consent_ctes}
pay AS (
  SELECT user_id,
    count(*) FILTER (WHERE w) AS payments,
    count(*) FILTER (WHERE w AND channel = 'offline_qr') AS offline_payments,
    count(*) FILTER (WHERE w AND night) AS night_payments,
    {month_sums}
  FROM (
    SELECT user_id, channel, amount, {W} AS w, {is_night} AS night,
      (({AT_US} - epoch_us(ts)) // 1000000) // {seconds_per_month} AS m
    FROM {sources['payment']}
  )
  GROUP BY user_id
),
tr AS (
  SELECT user_id,
    count(*) FILTER (WHERE {W} AND kind = 'red_packet' AND direction = 'in') AS red_packets_in,
    count(*) FILTER (WHERE {W} AND kind = 'red_packet' AND direction = 'out') AS red_packets_out
  FROM {sources['transfer']}
  GROUP BY user_id
),
dormant AS (
  SELECT DISTINCT c.user_id
  FROM (
    SELECT user_id, ts FROM {moves} AS mv
    WHERE amount >= {_num(pb.large_amount)} AND ts > {_ts(as_of.start(pb.recent_days))}
      AND epoch_us(ts) - {window_start_us} >= {dormant_us}
  ) AS c
  WHERE NOT EXISTS (
    SELECT 1 FROM {moves} AS p
    WHERE p.user_id = c.user_id AND p.ts < c.ts AND epoch_us(c.ts) - epoch_us(p.ts) < {dormant_us}
  )
),
bills AS (
  SELECT user_id, count(*) FILTER (WHERE {within(as_of.quarter_days)}) AS bill_payments_quarter
  FROM {sources['bill_payment']}
  GROUP BY user_id
),
lg AS (
  SELECT user_id, ts, device_id, client_version, phone_province, lbs_province, ip_province, lbs_city, {W} AS w
  FROM {sources['login']}
),
lg_agg AS (
  SELECT user_id,
    count(*) FILTER (WHERE w AND sw) AS device_switches,
    arg_max_null(device_id, ts) FILTER (WHERE w) AS primary_device,
    arg_max_null(client_version, ts) FILTER (WHERE w) AS client_version,
    arg_max(phone_province, ts) FILTER (WHERE w) AS phone_province
  FROM (
    SELECT *, coalesce(device_id <> lag(device_id) OVER (PARTITION BY user_id, w ORDER BY ts), FALSE) AS sw
    FROM lg
  )
  GROUP BY user_id
),
lbs_mode AS (
  SELECT user_id, first(p ORDER BY n DESC, p) AS lbs_province
  FROM (SELECT user_id, lbs_province AS p, count(*) AS n FROM lg WHERE w AND lbs_province IS NOT NULL GROUP BY ALL)
  GROUP BY user_id
),
ip_mode AS (
  SELECT user_id, first(p ORDER BY n DESC, p) AS ip_province
  FROM (SELECT user_id, ip_province AS p, count(*) AS n FROM lg WHERE w AND ip_province IS NOT NULL GROUP BY ALL)
  GROUP BY user_id
),
city_mode AS (
  SELECT user_id, first(p ORDER BY n DESC, p) AS city
  FROM (SELECT user_id, lbs_city AS p, count(*) AS n FROM lg WHERE w AND lbs_city IS NOT NULL GROUP BY ALL)
  GROUP BY user_id
),
ds AS (
  SELECT r.user_id,
    count(*) FILTER (WHERE {within(column='r.ts')}) AS security_reports,
    count(*) FILTER (WHERE {within(column='r.ts')} AND risky_wifi) AS risky_wifi_reports,
    max(r.ts) FILTER (WHERE cur) AS security_report_at,
    arg_max_null(rooted, r.ts) FILTER (WHERE cur) AS rooted,
    arg_max_null(modified_client, r.ts) FILTER (WHERE cur) AS modified_client,
    arg_max_null(malware, r.ts) FILTER (WHERE cur) AS malware,
    arg_max_null(unknown_sources, r.ts) FILTER (WHERE cur) AS unknown_sources,
    arg_max_null(failed_minor_checks, r.ts) FILTER (WHERE cur) AS failed_minor_checks
  FROM (
    SELECT s.*, s.ts <= {AT} AND s.device_id = l.primary_device AS cur
    FROM {sources['device_security']} AS s LEFT JOIN lg_agg AS l ON s.user_id = l.user_id
  ) AS r
  GROUP BY r.user_id
),
cards AS (
  SELECT user_id,
    count(DISTINCT bank) FILTER (WHERE action = 'bind' AND card_type = 'debit') AS debit_banks
  FROM (
    SELECT user_id, card_id,
      arg_max_null(action, ts) FILTER (WHERE {UPTO}) AS action,
      arg_max_null(bank, ts) FILTER (WHERE {UPTO}) AS bank,
      arg_max_null(card_type, ts) FILTER (WHERE {UPTO}) AS card_type
    FROM {sources['bank_card']}
    GROUP BY user_id, card_id
  )
  GROUP BY user_id
),
ident AS (
  SELECT user_id,
    coalesce(bool_or(face_verified) FILTER (WHERE {UPTO}), FALSE) AS face_verified,
    coalesce(bool_or(id_front) FILTER (WHERE {UPTO}), FALSE) AS id_front,
    coalesce(bool_or(id_back) FILTER (WHERE {UPTO}), FALSE) AS id_back,
    arg_max(id_expiry, ts) FILTER (WHERE {UPTO}) AS id_expiry
  FROM {sources['identity']}
  GROUP BY user_id
),
ccr AS (
  SELECT user_id, count(*) FILTER (WHERE {within(kyc.credit_card_repayment_lookback_days)}) AS credit_card_repayments
  FROM {sources['credit_card_repayment']}
  GROUP BY user_id
),
wealth AS (
  SELECT user_id, max({TODAY} - since) FILTER (WHERE balance >= {_num(credit.min_wealth_balance)}) AS wealth_holding_days
  FROM (
    SELECT user_id, product,
      arg_max_null(balance, ts) FILTER (WHERE {UPTO}) AS balance,
      arg_max_null(since, ts) FILTER (WHERE {UPTO}) AS since
    FROM {sources['wealth_holding']}
    GROUP BY user_id, product
  )
  GROUP BY user_id
),
partner AS (
  SELECT user_id,
    count(DISTINCT category) FILTER (WHERE shared) AS shared_categories,
    coalesce(bool_or(category = 'bureau' AND shared), FALSE) AS bureau_shared,
    coalesce(bool_or(category = 'bureau' AND NOT shared), FALSE) AS bureau_refused,
    arg_max_null(queries_12m, latest) FILTER (WHERE category = 'bureau' AND shared) AS bureau_queries_12m,
    min(oldest_account_opened) FILTER (WHERE category = 'bureau' AND shared) AS oldest_account_opened
  FROM (
    SELECT user_id, institution, category,
      max(ts) FILTER (WHERE {restricted_upto_partner}) AS latest,
      arg_max_null(shared, ts) FILTER (WHERE {restricted_upto_partner}) AS shared,
      arg_max_null(queries_12m, ts) FILTER (WHERE {restricted_upto_partner}) AS queries_12m,
      arg_max_null(oldest_account_opened, ts) FILTER (WHERE {restricted_upto_partner}) AS oldest_account_opened
    FROM {sources['partner_report']}
    GROUP BY user_id, institution, category
  )
  GROUP BY user_id
),
social AS (
  SELECT user_id,
    count(*) FILTER (WHERE action = 'add') AS contacts,
    count(*) FILTER (WHERE action = 'add' AND high_risk) AS high_risk_contacts
  FROM (
    SELECT user_id, contact_id,
      arg_max_null(action, ts) FILTER (WHERE {UPTO}) AS action,
      arg_max_null(high_risk, ts) FILTER (WHERE {UPTO}) AS high_risk
    FROM {sources['social_contact']}
    GROUP BY user_id, contact_id
  )
  GROUP BY user_id
),
profile AS (
  SELECT user_id, arg_max(customer_group, ts) FILTER (WHERE {UPTO}) AS customer_group
  FROM {sources['profile']}
  GROUP BY user_id
),
users AS (
  SELECT user_id FROM pay UNION SELECT user_id FROM tr UNION SELECT user_id FROM bills
  UNION SELECT user_id FROM lg_agg UNION SELECT user_id FROM ds UNION SELECT user_id FROM cards
  UNION SELECT user_id FROM ident UNION SELECT user_id FROM ccr UNION SELECT user_id FROM wealth
  UNION SELECT user_id FROM partner UNION SELECT user_id FROM social UNION SELECT user_id FROM profile
  UNION SELECT user_id FROM {sources['app_open']} UNION SELECT user_id FROM {sources['consent']}
),
base AS (
  SELECT u.user_id,
    coalesce(pay.payments, 0) AS payments,
    coalesce(pay.offline_payments, 0) AS offline_payments,
    coalesce(pay.night_payments, 0) AS night_payments,
    {', '.join(f'pay.spend_{i}' for i in range(months))},
    coalesce(tr.red_packets_in, 0) + coalesce(tr.red_packets_out, 0) AS red_packets,
    abs(coalesce(tr.red_packets_in, 0) - coalesce(tr.red_packets_out, 0)) AS red_packet_diff,
    dormant.user_id IS NOT NULL AS dormant_large,
    coalesce(bills.bill_payments_quarter, 0) AS bill_payments_quarter,
    coalesce(lg_agg.device_switches, 0) AS device_switches,
    lg_agg.client_version, lg_agg.phone_province, lbs_mode.lbs_province, ip_mode.ip_province, city_mode.city,
    coalesce(ds.security_reports, 0) AS security_reports,
    coalesce(ds.risky_wifi_reports, 0) AS risky_wifi_reports,
    ds.security_report_at,
    coalesce(ds.rooted, FALSE) AS rooted,
    coalesce(ds.modified_client, FALSE) AS modified_client,
    coalesce(ds.malware, FALSE) AS malware,
    coalesce(ds.unknown_sources, FALSE) AS unknown_sources,
    coalesce(ds.failed_minor_checks, 0) AS failed_minor_checks,
    coalesce(cards.debit_banks, 0) AS debit_banks,
    coalesce(ident.face_verified, FALSE) AS face_verified,
    coalesce(ident.id_front, FALSE) AS id_front,
    coalesce(ident.id_back, FALSE) AS id_back,
    {TODAY} - ident.id_expiry AS id_expired_days,
    coalesce(ccr.credit_card_repayments, 0) AS credit_card_repayments,
    wealth.wealth_holding_days,
    coalesce(partner.shared_categories, 0) AS shared_categories,
    coalesce(partner.bureau_shared, FALSE) AS bureau_shared,
    coalesce(partner.bureau_refused, FALSE) AS bureau_refused,
    partner.bureau_queries_12m,
    ({TODAY} - partner.oldest_account_opened) / CAST(365.25 AS DOUBLE) AS credit_history_years,
    coalesce(social.contacts, 0) AS contacts,
    coalesce(social.high_risk_contacts, 0) AS high_risk_contacts,
    profile.customer_group,
    coalesce(risk.risk_level, 'R0') AS risk_level,
    risk.risk_recovers_at,
    {consent_columns}
  FROM users AS u
  LEFT JOIN pay ON pay.user_id = u.user_id
  LEFT JOIN tr ON tr.user_id = u.user_id
  LEFT JOIN dormant ON dormant.user_id = u.user_id
  LEFT JOIN bills ON bills.user_id = u.user_id
  LEFT JOIN lg_agg ON lg_agg.user_id = u.user_id
  LEFT JOIN lbs_mode ON lbs_mode.user_id = u.user_id
  LEFT JOIN ip_mode ON ip_mode.user_id = u.user_id
  LEFT JOIN city_mode ON city_mode.user_id = u.user_id
  LEFT JOIN ds ON ds.user_id = u.user_id
  LEFT JOIN cards ON cards.user_id = u.user_id
  LEFT JOIN ident ON ident.user_id = u.user_id
  LEFT JOIN ccr ON ccr.user_id = u.user_id
  LEFT JOIN wealth ON wealth.user_id = u.user_id
  LEFT JOIN partner ON partner.user_id = u.user_id
  LEFT JOIN social ON social.user_id = u.user_id
  LEFT JOIN profile ON profile.user_id = u.user_id
  LEFT JOIN {risk_table} AS risk ON risk.user_id = u.user_id
  LEFT JOIN avail ON avail.user_id = u.user_id
),
derived AS (
  SELECT *,
    CASE WHEN payments > 0 THEN offline_payments / payments ELSE 0.0 END AS offline_share,
    CASE WHEN payments > 0 THEN night_payments / payments ELSE 0.0 END AS night_share,
    CASE WHEN {spend_mean} > 0 THEN {spend_spread} / {spend_mean} ELSE 0.0 END AS monthly_volatility,
    CASE WHEN red_packets > 0 THEN red_packet_diff / red_packets ELSE 0.0 END AS red_packet_imbalance,
    CASE WHEN contacts > 0 THEN high_risk_contacts / contacts ELSE 0.0 END AS high_risk_contact_share,
    CASE WHEN security_reports > 0 THEN risky_wifi_reports / security_reports ELSE 0.0 END AS risky_wifi_share,
    CASE WHEN shared_categories >= {n_categories} THEN 2 WHEN shared_categories > 0 THEN 1 ELSE 0 END AS sharing_rank,
    {version_num} AS vnum,
    (lbs_province IS NOT NULL)::INT + (phone_province IS NOT NULL)::INT + (ip_province IS NOT NULL)::INT AS location_signals,
    greatest(
      coalesce(lbs_province = lbs_province, FALSE)::INT + coalesce(phone_province = lbs_province, FALSE)::INT + coalesce(ip_province = lbs_province, FALSE)::INT,
      coalesce(lbs_province = phone_province, FALSE)::INT + coalesce(phone_province = phone_province, FALSE)::INT + coalesce(ip_province = phone_province, FALSE)::INT,
      coalesce(lbs_province = ip_province, FALSE)::INT + coalesce(phone_province = ip_province, FALSE)::INT + coalesce(ip_province = ip_province, FALSE)::INT
    ) AS location_agreement
  FROM base
),
located AS (
  SELECT *,
    CASE
      WHEN coalesce(lbs_province = lbs_province, FALSE)::INT + coalesce(phone_province = lbs_province, FALSE)::INT + coalesce(ip_province = lbs_province, FALSE)::INT = location_agreement THEN lbs_province
      WHEN coalesce(lbs_province = phone_province, FALSE)::INT + coalesce(phone_province = phone_province, FALSE)::INT + coalesce(ip_province = phone_province, FALSE)::INT = location_agreement THEN phone_province
      ELSE ip_province
    END AS province,
    {rollout} AS rollout_percent,
    CASE WHEN security_report_at IS NOT NULL THEN greatest(0, least(100, 100 - (
      rooted::INT * {d.rooted} + modified_client::INT * {d.modified_client} + malware::INT * {d.malware}
      + unknown_sources::INT * {d.unknown_sources}
      + (risky_wifi_share > {_num(wifi_hit_share)})::INT * {d.risky_wifi}
      + failed_minor_checks * {d.failed_minor_check}))) END AS security_score
  FROM derived
),
bucketed AS (
  SELECT *,
    {_bucket(f"{_str(salt)} || ':' || user_id")} AS gray_bucket,
    {_bucket(f"{_str(salt)} || ':batch:' || user_id")} AS gray_batch_bucket
  FROM located
),
checked AS (
  SELECT user_id,
    {check_columns}
  FROM (SELECT *, {batch_open} AS batch_open, round({score_sql}, 2) AS credit_score FROM bucketed)
)
SELECT user_id,
  {dim_columns},
  {visible} AS visible{extra_checks}
FROM checked
"""


# Columns of the query's last stage a scorecard may read (engine names, same meaning).
REFERENCE_FEATURES = frozenset(
    """payments offline_payments night_payments bill_payments_quarter device_switches debit_banks
    credit_card_repayments wealth_holding_days credit_history_years contacts high_risk_contacts
    offline_share night_share monthly_volatility high_risk_contact_share risky_wifi_share security_score red_packets
    lbs_province phone_province ip_province province city""".split()
)


def scorecard_sql(card: Any, aliases: Mapping[str, str]) -> str:
    """The score as one SQL sum of a CASE per feature, from the card's bins and points:
    numeric bin i is [edge i-1, edge i); null, NaN and unseen categories take the
    missing bin (the last)."""
    terms = []
    for feature in card.features:
        name, bins, points = feature.name, feature.bins, [float(p) for p in feature.points]
        if name not in REFERENCE_FEATURES and name not in aliases:
            raise ValueError(f"the reference query does not compute the scorecard's feature {name!r}")
        column = aliases.get(name, name)
        if bins.kind == "numeric":
            value = f"CAST({column} AS DOUBLE)"
            cases = [f"WHEN {value} IS NULL OR isnan({value}) THEN {_num(points[-1])}"]
            cases += [f"WHEN {value} < {_num(float(edge))} THEN {_num(points[i])}" for i, edge in enumerate(bins.edges)]
            terms.append(f"(CASE {' '.join(cases)} ELSE {_num(points[len(bins.edges)])} END)")
        else:
            value = f"CAST({column} AS VARCHAR)"
            cases = [f"WHEN {_in(value, group)} THEN {_num(points[k])}" for k, group in enumerate(bins.groups) if group]
            terms.append(f"(CASE {' '.join(cases)} ELSE {_num(points[-1])} END)")
    return " + ".join(terms) if terms else "0.0"


def risk_relation(risk: pl.DataFrame | None) -> pl.DataFrame:
    """The risk-state table in the column layout the query expects."""
    schema = {"user_id": pl.String, "risk_level": pl.String, "risk_since": pl.Datetime("us", "UTC"), "risk_recovers_at": pl.Datetime("us", "UTC")}
    if risk is None:
        return pl.DataFrame(schema=schema)
    return risk.select(list(schema)).cast(schema)


def evaluate_reference(
    part_files: Mapping[str, list],
    policy: Policy,
    as_of: AsOf,
    risk: pl.DataFrame | None = None,
    checks: bool = False,
    con: duckdb.DuckDBPyConnection | None = None,
    consent_at: dt.datetime | None = None,
    scorecard: Any = None,
) -> pl.DataFrame:
    """Run the reference query over the given part files; one row per user."""
    own = con is None
    con = con or duckdb.connect()
    try:
        con.register("risk_states", risk_relation(risk).to_arrow())
        sources = parquet_sources(con, part_files)
        query = reference_query(policy, as_of, sources, "risk_states", checks=checks, consent_at=consent_at, scorecard=scorecard)
        return pl.from_arrow(con.sql(query).to_arrow_table())
    finally:
        if own:
            con.close()
