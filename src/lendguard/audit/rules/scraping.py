"""AU-SC-01..02: scraping in an access log: abnormal frequency, simulated logins.

Windows slide (any 60 seconds, any hour), per client, over the whole log at once.
"""

from __future__ import annotations

import polars as pl

from lendguard.audit.findings import Evidence, Finding, finding
from lendguard.audit.target import AuditTarget

RULES = ("AU-SC-01", "AU-SC-02")
PARTS = ("access_log",)


def _peaks(log: pl.DataFrame, period: str, measure: pl.Expr) -> pl.DataFrame:
    """Per client, the largest `measure` over any window of `period` ending at a row."""
    if log.height == 0:
        return pl.DataFrame(schema={"client_id": pl.String, "peak": pl.Int64, "at": pl.Datetime("us", "UTC")})
    rolled = log.sort("ts").rolling(index_column="ts", period=period, group_by="client_id").agg(measure.alias("peak"))
    return rolled.sort("peak", descending=True).group_by("client_id", maintain_order=True).first().rename({"ts": "at"}).select("client_id", "peak", "at")


def check(target: AuditTarget, policy) -> list[Finding]:
    log, file, limits = target.access_log, target.source("access_log"), policy.audit.scraping
    log = log.filter(pl.col("ts").is_not_null() & pl.col("client_id").is_not_null())
    found = []
    for row in _peaks(log, "60s", pl.len()).filter(pl.col("peak") > limits.max_requests_per_minute).iter_rows(named=True):
        found.append(finding(
            "AU-SC-01", Evidence(file=file, location=f"client_id={row['client_id']}", quote=f"{row['peak']} requests in the minute to {row['at']:%Y-%m-%d %H:%M:%S}"),
            f"客户端{row['client_id']}一分钟内请求{row['peak']}次，超过{limits.max_requests_per_minute}次。",
            f"Client {row['client_id']} made {row['peak']} requests in one minute; at most {limits.max_requests_per_minute} are normal.",
        ))
    queries = log.filter(pl.col("action") == "query")
    for row in _peaks(queries, "1h", pl.col("user_id").n_unique()).filter(pl.col("peak") > limits.max_users_per_hour).iter_rows(named=True):
        found.append(finding(
            "AU-SC-01", Evidence(file=file, location=f"client_id={row['client_id']}", quote=f"{row['peak']} users queried in the hour to {row['at']:%Y-%m-%d %H:%M:%S}"),
            f"客户端{row['client_id']}一小时内查询{row['peak']}个用户，超过{limits.max_users_per_hour}个。",
            f"Client {row['client_id']} queried {row['peak']} users in one hour; at most {limits.max_users_per_hour} are normal.",
        ))
    logins = log.filter(pl.col("action") == "login")
    agents = "|".join(a.replace("/", r"\/").replace(".", r"\.") for a in limits.automation_agents)
    scripted = logins.filter(pl.col("user_agent").fill_null("").str.to_lowercase().str.contains(agents))
    for row in scripted.group_by("client_id", maintain_order=True).agg(pl.len().alias("n"), pl.col("user_agent").first()).iter_rows(named=True):
        found.append(finding(
            "AU-SC-02", Evidence(file=file, location=f"client_id={row['client_id']}", quote=row["user_agent"]),
            f"客户端{row['client_id']}以自动化程序登录{row['n']}次。", f"Client {row['client_id']} logged in {row['n']} times from an automation tool.",
        ))
    already = set(scripted["client_id"].unique())
    wide = _peaks(logins, "1h", pl.col("user_id").n_unique()).filter(
        (pl.col("peak") >= limits.max_login_accounts_per_hour) & ~pl.col("client_id").is_in(already)
    )
    for row in wide.iter_rows(named=True):
        found.append(finding(
            "AU-SC-02", Evidence(file=file, location=f"client_id={row['client_id']}", quote=f"{row['peak']} accounts in the hour to {row['at']:%Y-%m-%d %H:%M:%S}"),
            f"客户端{row['client_id']}一小时内登录{row['peak']}个不同账号，疑似模拟登录。",
            f"Client {row['client_id']} logged into {row['peak']} different accounts in one hour: simulated logins.",
        ))
    return found
