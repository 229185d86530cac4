import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import datetime as dt
import os

import pytest

# The suites of the API's features (loans, reviews, scoring...) run the server without the
# access gate, so each stays about its feature; the gate itself (signatures, tokens, roles,
# limits, every route against every role) is tested with it on, in tests/test_security_*.py,
# which set LENDGUARD_AUTH=on for their servers.
os.environ.setdefault("LENDGUARD_AUTH", "off")

SYNTH_AS_OF = dt.datetime(2026, 11, 24, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="session")
def population_dir(tmp_path_factory) -> Path:
    """A small synthetic population stored in an embedded data directory (shared, read-only)."""
    from lendguard.policy import load_policy
    from lendguard.store.events import EventStore
    from lendguard.synth.generate import generate_population

    data_dir = tmp_path_factory.mktemp("population")
    generate_population(EventStore(data_dir), load_policy(), 1500, SYNTH_AS_OF, seed=11)
    return data_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def book(request, tmp_path):
    """A loan book under the default policy on an empty ledger: SQLite, then PostgreSQL (a
    throwaway schema; skipped when no server answers). Its invariants must hold at the end."""
    from ledger_support import ledger_url

    from lendguard.loans.book import LoanBook
    from lendguard.loans.database import open_ledger
    from lendguard.loans.invariants import ledger_problems
    from lendguard.policy import load_policy

    with ledger_url(request.param, tmp_path) as url:
        sessions = open_ledger(tmp_path, url)
        yield LoanBook(sessions, load_policy())
        assert ledger_problems(sessions) == []
        sessions.kw["bind"].dispose()
