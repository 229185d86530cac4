import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import datetime as dt

import pytest

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
