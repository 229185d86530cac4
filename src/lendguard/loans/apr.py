"""The annual percentage rate by the IRR method, as Chinese disclosure rules require.

APR = the internal rate of return per period of the actual cash flows (principal
disbursed, every installment with its interest and fees) x the periods in a year. It
is not the daily rate x 365: fees and the amortisation shape are in it. One offer goes
through pyxirr; a population of offers through a vectorised Newton iteration over a
matrix of cash flows (`bulk_aprs`), whose rows that do not converge fall back to pyxirr.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyxirr

from lendguard.loans.schedule import Schedule

APR_PLACES = Decimal("1e-8")  # disclosed to a millionth of a percentage point


class AprError(ValueError):
    """Cash flows without an internal rate of return (e.g. nothing repaid)."""


def irr_per_period(flows: list[Decimal] | list[float]) -> float:
    rate = pyxirr.irr([float(f) for f in flows], silent=True)
    if rate is None or not np.isfinite(rate):
        raise AprError(f"the cash flows {[str(f) for f in flows][:6]}... have no internal rate of return")
    return rate


def apr_of(schedule: Schedule) -> Decimal:
    """The disclosed APR of a schedule's cash flows (a fraction: 0.18 is 18%)."""
    rate = irr_per_period(schedule.cash_flows())
    return (Decimal(repr(rate)) * schedule.periods_per_year).quantize(APR_PLACES)


def bulk_aprs(flows: np.ndarray, periods_per_year: np.ndarray, tolerance: float = 1e-12, max_iterations: int = 50) -> np.ndarray:
    """APRs of many offers at once: `flows` is (offers x periods), period 0 the disbursement
    (negative), shorter schedules padded with zeros (a zero changes no present value)."""
    flows = np.asarray(flows, dtype=np.float64)
    count, width = flows.shape
    exponents = np.arange(width, dtype=np.float64)
    # Start from the simple rate: total repaid over principal, spread over the periods.
    paid = flows[:, 1:].sum(axis=1)
    principal = -flows[:, 0]
    periods = np.maximum((flows[:, 1:] != 0).sum(axis=1), 1)
    rate = np.where(principal > 0, (paid / np.where(principal > 0, principal, 1) - 1) / periods, 0.0)
    active = np.ones(count, dtype=bool)
    for _ in range(max_iterations):
        if not active.any():
            break
        rows = flows[active]
        r = rate[active]
        discount = (1.0 + r)[:, None] ** -exponents
        value = (rows * discount).sum(axis=1)
        slope = -(rows * exponents * discount / (1.0 + r)[:, None]).sum(axis=1)
        step = np.divide(value, slope, out=np.zeros_like(value), where=slope != 0)
        rate[active] = r - step
        done = np.abs(step) < tolerance
        indices = np.flatnonzero(active)
        active[indices[done]] = False
    unsettled = np.flatnonzero(active | ~np.isfinite(rate) | (rate <= -1))
    for index in unsettled:  # rare: fall back to the reference solver
        rate[index] = irr_per_period(list(flows[index][: int(np.flatnonzero(flows[index])[-1]) + 1]))
    return rate * np.asarray(periods_per_year, dtype=np.float64)
