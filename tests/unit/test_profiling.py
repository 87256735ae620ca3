"""A service's profile on demand, split by library (services/backbone/profiling.py; ``laborcase bench --profile``)."""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import signal
import time
from pathlib import Path

import pytest

from services.backbone import profiling

REPO = Path(profiling.__file__).resolve().parents[2]


def test_a_function_belongs_to_its_package_this_repository_s_module_or_the_standard_library():
    assert profiling.library_of("/venv/lib/python3.11/site-packages/aiokafka/protocol/types.py") == "aiokafka"
    assert profiling.library_of("/venv/lib/python3.11/site-packages/six.py") == "six"
    assert profiling.library_of(str(REPO / "services/backbone/outbox.py")) == "laborcase services/backbone"
    assert profiling.library_of(str(REPO / "events/envelope.py")) == "laborcase events/envelope"
    assert profiling.library_of("/usr/lib/python3.11/asyncio/tasks.py") == "stdlib asyncio"
    assert profiling.library_of("/usr/lib/python3.11/uuid.py") == "stdlib uuid"
    assert profiling.library_of("<frozen abc>") == "stdlib abc"
    assert profiling.library_of("<string>") == "generated code"  # a dataclass's __init__, a namedtuple's __new__


def _stats(table: dict) -> pstats.Stats:
    """A profile as pstats holds it: (file, line, name) -> (primitive calls, calls, own time, cumulative time,
    callers: (file, line, name) -> (primitive calls, calls, own time spent for that caller, cumulative))."""
    stats = pstats.Stats.__new__(pstats.Stats)
    stats.stats = table
    return stats


ALPHA = ("/v/site-packages/alpha/a.py", 1, "a")
BETA = ("/v/site-packages/beta/b.py", 1, "b")
SORTED = ("~", 0, "<built-in method builtins.sorted>")


def test_a_built_in_s_own_time_is_shared_among_its_callers_libraries_by_what_it_spent_for_each():
    shares = profiling.split(_stats({
        ALPHA: (1, 1, 2.0, 100.0, {}),  # own time counts, cumulative time (100) does not
        BETA: (1, 1, 1.0, 50.0, {}),
        SORTED: (4, 4, 4.0, 4.0, {ALPHA: (3, 3, 3.0, 3.0), BETA: (1, 1, 1.0, 1.0)}),
    }))
    assert shares == pytest.approx({"alpha": 5 / 7, "beta": 2 / 7})


def test_a_built_in_with_no_caller_recorded_is_said_so_and_an_empty_profile_has_no_shares():
    shares = profiling.split(_stats({ALPHA: (1, 1, 1.0, 1.0, {}), SORTED: (1, 1, 1.0, 1.0, {})}))
    assert shares == pytest.approx({"alpha": 0.5, "(built-in, caller unknown)": 0.5})
    assert profiling.split(_stats({ALPHA: (1, 1, 0.0, 0.0, {})})) == {}


def _sort_many() -> None:
    for _ in range(200):
        sorted(range(20_000, 0, -1))


def _profiled(work) -> pstats.Stats:
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    work()
    profile.disable()
    return pstats.Stats(profile)


def test_a_built_in_function_s_time_goes_to_the_library_that_called_it():
    shares = profiling.split(_profiled(_sort_many))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert not [k for k in shares if k == "~" or k.startswith("<")]
    # sorted() is a C function: its time is this test module's, whose code called it
    assert shares["laborcase tests/unit"] > 0.9


def test_the_split_names_every_library_in_proportion():
    document = {"cases": [{"case_id": f"LC{n}", "steps": list(range(30))} for n in range(300)]}

    def work() -> None:
        for _ in range(30):
            json.dumps(document)
            for n in range(300):
                profiling.library_of(f"/x/site-packages/p{n}/m.py")

    shares = profiling.split(_profiled(work))
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["stdlib json"] > 0.2  # the C encoder raises no profiler event: its time is json's own code's
    assert shares["laborcase services/backbone"] > 0.05


def test_scaled_shares_add_up_to_each_service_s_measured_cpu():
    shares = {"mediation": {"asyncpg": 0.5, "aiokafka": 0.5}, "legal_aid": {"aiokafka": 1.0}}
    assert profiling.scaled({"mediation": 6.0, "legal_aid": 1.5}, shares) == {"aiokafka": 4.5, "asyncpg": 3.0}


def test_sigusr1_starts_the_profile_and_sigusr2_writes_it(tmp_path):
    async def serve() -> None:
        profiling.OnSignal("mediation", tmp_path).install(asyncio.get_running_loop())
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.sleep(0.05)
        _sort_many()
        os.kill(os.getpid(), signal.SIGUSR2)
        for _ in range(100):
            if profiling.stats_file(tmp_path, "mediation").exists():
                return
            await asyncio.sleep(0.01)

    asyncio.run(serve())
    shares = profiling.load(profiling.stats_file(tmp_path, "mediation"))
    assert shares["laborcase tests/unit"] > 0.5
    assert list(tmp_path.iterdir()) == [profiling.stats_file(tmp_path, "mediation")]  # no half-written file left
