"""Where a service's CPU goes, by library, on demand (``laborcase bench --profile``).

With ``LABORCASE_PROFILE_DIR`` set, SIGUSR1 starts Python's deterministic profiler on the service's event loop,
timing CPU (``time.process_time``), not wall time; SIGUSR2 stops it and writes ``<dir>/<service>.pstats``.
``split`` turns such a file into each library's share of the CPU: a built-in function's own time (``sorted``,
``isinstance``, ``bytes.join``) goes to the library whose code called it.

What cProfile cannot separate: C code that raises no profiler event is part of the time of the function above it
(asyncpg's Cython protocol and the socket write under it count as the asyncpg call that sent the statement; a
socket write through asyncio's streams counts as asyncio), and a socket read inside uvloop, before any Python frame,
is in no function at all (scaling spreads it over every library in proportion). Each call and return reads the
process's CPU clock, a system call: that is most of why the profiler slows a service about 2.5 times, and a small
function more than a large one. So the bench measures its figures without it, then profiles a further lifecycle
and scales the shares to the CPU per case it measured unprofiled. The CPU clock, not the wall clock, because a
process preempted on this 2-core host must not look busy: py-spy, sampling the wall clock, counted a service
preempted in a ``write()`` to a local socket (the PostgreSQL backend it wakes runs first) as its own work, and put
30–60 % of the services' CPU in "the event loop's own work", where the kernel's CPU sampling (``perf record -a``)
shows 67–82 % in the interpreter and 3 % in uvloop (docs/domain/targets.md).
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
import os
import pstats
import re
import signal
import time
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "LABORCASE_PROFILE_DIR"
_REPO = Path(__file__).resolve().parents[2]
_SITE = re.compile(r"[/\\](?:site|dist)-packages[/\\]([^/\\]+)")
_STDLIB = re.compile(r"[/\\]python3\.\d+[/\\]([^/\\]+)")


def stats_file(directory: Path, service: str) -> Path:
    return directory / f"{service}.pstats"


class OnSignal:
    """SIGUSR1 starts profiling the process's event loop; SIGUSR2 stops it and writes the profile."""

    def __init__(self, service: str, directory: Path):
        self.service, self.directory = service, directory
        self.profile: cProfile.Profile | None = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGUSR1, self.start)
        loop.add_signal_handler(signal.SIGUSR2, self.stop)

    def start(self) -> None:
        if self.profile is None:
            self.profile = cProfile.Profile(time.process_time)
            self.profile.enable()

    def stop(self) -> None:
        profile, self.profile = self.profile, None
        if profile is None:
            return
        profile.disable()
        self.directory.mkdir(parents=True, exist_ok=True)
        target = stats_file(self.directory, self.service)
        written = target.with_name(f"{self.service}.{os.getpid()}.tmp")
        profile.dump_stats(written)
        written.replace(target)  # a reader never sees half a file
        log.info("profile written", extra={"path": str(target)})


def library_of(filename: str) -> str:
    """Who a function's code belongs to: an installed package, this repository's package (two levels: ``services/
    backbone``, ``services/mediation`` — a service's routes, repository and use cases together), the standard
    library's module, code generated at run time (a dataclass's ``__init__``), or the file's name."""
    if found := _SITE.search(filename):
        return found.group(1).removesuffix(".py")
    path = Path(filename)
    if path.is_absolute():
        path = path.resolve()  # as the repository's own path is: a checkout reached through a link is still ours
        if path.is_relative_to(_REPO):
            return "laborcase " + "/".join(path.relative_to(_REPO).with_suffix("").parts[:2])
    if found := _STDLIB.search(filename):
        return "stdlib " + found.group(1).removesuffix(".py")
    if filename.startswith("<frozen "):
        return "stdlib " + filename[len("<frozen "):].rstrip(">")
    if filename == "<string>":
        return "generated code"
    return filename


def split(stats: pstats.Stats) -> dict[str, float]:
    """Each library's share (0–1) of the profiled CPU. A built-in function (cProfile's file ``~``) has no library
    of its own: its time is shared among its callers' libraries, in proportion to the time it spent for each."""
    shares: Counter[str] = Counter()
    table = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, own, _cum, callers) in table.items():
        if filename != "~":
            shares[library_of(filename)] += own
            continue
        spent = {caller: timing[2] for caller, timing in callers.items()}
        whole = sum(spent.values())
        if not spent:
            shares["(built-in, caller unknown)"] += own
            continue
        for (caller_file, _l, _n), part in spent.items():
            weight = part / whole if whole > 0 else 1 / len(spent)
            shares[library_of(caller_file) if caller_file != "~" else "(built-in, caller unknown)"] += own * weight
    total = sum(shares.values())
    return {k: v / total for k, v in shares.most_common()} if total > 0 else {}


def load(path: Path) -> dict[str, float]:
    return split(pstats.Stats(str(path)))


def scaled(measured_ms: dict[str, float], shares: dict[str, dict[str, float]]) -> dict[str, float]:
    """Milliseconds per case by library, over every profiled service: each service's shares times the CPU per
    case it was measured at without the profiler (``measured_ms``)."""
    total: Counter[str] = Counter()
    for service, split_of in shares.items():
        for library, share in split_of.items():
            total[library] += share * measured_ms.get(service, 0.0)
    return dict(total.most_common())
