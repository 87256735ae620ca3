"""Where a service's CPU goes, by library, on demand (``laborcase bench --profile``).

With ``LABORCASE_PROFILE_DIR`` set, SIGUSR1 starts Python's deterministic profiler on the service's event loop,
timing CPU (``time.process_time``), not wall time; SIGUSR2 stops it and writes ``<dir>/<service>.pstats``.
``split`` turns such a file into each library's share of the CPU: a C function's own time (``json.dumps``'s
encoder, ``isinstance``) goes to the library whose code called it.

The profiler makes a service about 2.5 times slower, and a small function more so than a large one: the bench
measures its figures without it, profiles a second lifecycle, and scales the shares to the CPU per case it
measured unprofiled. Why not a sampling profiler: on this 2-core host py-spy counted as a service's own the time
it sat preempted in a ``write()`` to a local socket (the PostgreSQL backend it wakes runs first), and put 30–60 %
of the services' CPU in "the event loop's own work", where the kernel's CPU sampling (``perf record -a``) shows
67–82 % in the interpreter and 3 % in uvloop (docs/domain/targets.md).
"""

from __future__ import annotations

import asyncio
import cProfile
import logging
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
        profile.dump_stats(target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)  # a reader never sees half a file
        log.info("profile written", extra={"path": str(target)})


def library_of(filename: str) -> str:
    """Who a function's code belongs to: an installed package, this repository's package (two levels: ``services/
    backbone``), the standard library's module, or the file's name."""
    if found := _SITE.search(filename):
        return found.group(1).removesuffix(".py")
    path = Path(filename)
    if path.is_absolute() and path.is_relative_to(_REPO):
        return "laborcase " + "/".join(path.relative_to(_REPO).with_suffix("").parts[:2])
    if found := _STDLIB.search(filename):
        return "stdlib " + found.group(1).removesuffix(".py")
    if filename.startswith("<frozen "):
        return "stdlib " + filename[len("<frozen "):].rstrip(">")
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
