"""Rebuild the projection from scratch by replaying the topics (``laborcase supervision rebuild``).

Reads every consumed topic from the beginning, merged partition by partition in CloudEvents time order with a
bounded buffer per partition (services/backbone/replay.py: memory does not grow with the log), and applies the
events in batches through the same handlers and the same partner signature check as the live consumer, into an
empty database (or, resuming, into what an interrupted rebuild left). Progress — records read of the estimated
total, rate, time left — is logged every few seconds. Several processes can replay at once (``workers``), each its
share of the partitions (``replay.Shard``), one case's records on our topics all in one share. On Apache Kafka
this needs the topics' retention to cover the period; the local broker keeps everything it has seen since it
started.

Nothing is announced twice. The events the live consumer had applied (before its group's committed positions,
and not parked) published their consequences then — alerts raised, resolved, escalated — so they are applied
quietly: state only. The others (written while supervision was stopped, or parked) publish as the live consumer
would have; when it starts again its inbox passes over them. The outbox is left as it is: what the service had
not yet published goes out, and what it had published stays for the broker-restart recovery. What supervisors did
on the board, and how far the escalation clocks had taken each alert, is kept aside and put back
(services/supervision/carry.py). The indexes only pages read are set aside while the replay writes and made again
at its end, each in one pass (services/supervision/bulk.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from events.envelope import EventRejected
from services.backbone import calendar_store, kafka, replay
from services.backbone.consumer import EventProcessor, Inbound
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from services.security import partners
from services.supervision import bulk, carry, repository
from services.supervision.service import SPEC

log = logging.getLogger(__name__)


def _passed_over(inbound: Inbound, exc: Exception) -> None:
    log.warning("record passed over in the replay", extra={"topic": inbound.topic, "partition": inbound.partition,
                                                           "offset": inbound.offset, "error": repr(exc)})


def decoded_in_time(processor: EventProcessor) -> Callable[[Inbound], tuple[object, Any] | None]:
    """The replay's key: a record decoded once, as the live consumer decodes it (its partner's signature
    checked), placed by its CloudEvents time; a record the live consumer dead-lettered, or does not handle, is
    passed over.

    The time is placed as its POSIX timestamp, a float: the merge compares each record's key with others a few
    times, and two aware datetimes are compared through their offsets (each parsed time has its own ``tzinfo``),
    6 µs a record in the heap against 0.35 for floats and 0.46 to take the timestamp. The order is the times' own
    to the microsecond between the years 1697 and 2242: a timestamp is the exact count of microseconds divided by a
    million, correctly rounded, and floats there are less than a microsecond apart (a quarter of one today). Times
    further off (a partner's mistake) may share a key with one a microsecond away; the tie falls to topic,
    partition and offset, and the projection keeps each field's newest value by the event's own time anyway."""

    def key(inbound: Inbound) -> tuple[object, Any] | None:
        try:
            item = processor.decode_one(inbound)
        except EventRejected:
            return None
        except Exception as exc:  # the decoder met something it was not written for
            _passed_over(inbound, exc)
            return None
        return (item.event.time.timestamp(), item) if item is not None else None

    return key


#: where ``services`` is: the other shards run ``python -m services.cli`` from here
ROOT = Path(__file__).resolve().parents[2]
LIVE_GROUP = f"laborcase.{SPEC.name}"


class Applied:
    """Which records the live consumer had applied (and published the consequences of) when the rebuild began."""

    def __init__(self, positions: dict[tuple[str, int], int], parked: set[Any]):
        self.positions, self.parked = positions, parked

    def __call__(self, item: Any) -> bool:
        inbound = item.inbound
        return inbound.offset < self.positions.get((inbound.topic, inbound.partition), 0) and \
            item.event.id not in self.parked


async def rebuild(bootstrap: str, dsn: str, *, batch: int = 2000, buffer: int = 250, resume: bool = False,
                  report_every: float = 5.0, on_progress: Callable[[replay.Progress], None] | None = None,
                  topics: Sequence[str] | None = None, applied_by: str | None = None, workers: int = 1,
                  shard: replay.Shard | None = None, forked: dict[replay.Shard, Forked] | None = None,
                  stalled_after: float = 120.0) -> replay.Progress:
    """Replay every consumed topic (or ``topics``: a copy of them) into ``dsn``; ``resume`` keeps what an
    interrupted rebuild applied (the inbox passes over the events already in it) instead of starting from an
    empty projection. While one batch is written, the next is read and decoded. Memory: ``buffer`` records per
    partition waiting to be merged, two batches of ``batch`` events (per process).

    ``workers``: processes replaying side by side, each one shard of the partitions (services/backbone/replay.py
    ``Shard``): this one, and ``workers - 1`` more started here (``laborcase supervision rebuild --shard k/n``).
    They are started first, and wait (their start-up done) while this process prepares the projection; it tells
    them to begin when it is ready, and puts the board's own work back after they all end; progress is theirs
    summed. ``shard``: be one of those others — replay that shard alone into a projection
    prepared already. ``forked``: those others made already (``fork_shares``), adopted instead of started.
    ``stalled_after``: seconds without progress after which the log says so, each share's counts with it.

    ``applied_by``: the consumer group whose committed positions say which events were applied and published
    before (applied quietly, see the module's note); by default the live group when the real topics are
    replayed, none for a copy. When the broker cannot say, everything publishes (a repeat, never a loss)."""
    group = applied_by if applied_by is not None else (LIVE_GROUP if topics is None else None)
    replayed = list(topics or SPEC.consumes)
    others = None
    if shard is None:  # started first: their start-up (imports, connections) runs while the projection is prepared
        others = Others(bootstrap, dsn, replayed, group, workers, batch=batch, buffer=buffer,
                        report_every=report_every, forked=forked)
        await others.start()
    parent: asyncio.Task[None] | None = None
    pool: Any = None
    # this process's partitions, opened (their ends found: a second on the local broker) while it prepares
    opening = asyncio.ensure_future(replay.Source.open(bootstrap, replayed, shard=shard or replay.Shard(0, workers)))
    handed = False  # to the replay, which closes it
    try:
        positions = await kafka.committed_positions(bootstrap, group, replayed) if group else {}
        pool = await create_pool(dsn, size=2)
        if shard is None:
            await migrate(pool, [("backbone", BACKBONE_MIGRATIONS), ("supervision", SPEC.migrations)])  # type: ignore[list-item]
            parked = await carry.parked(pool)  # emptied with the projection: kept for a resumed rebuild
            if not resume:
                async with pool.acquire() as conn, conn.transaction():
                    await carry.keep(conn)  # the supervisors' own work on the board, put back at the end
                    await bulk.set_aside(conn)  # the indexes only pages read: made again once, at the end
                    await repository.empty_projection(conn)
            await calendar_store.seed(pool)
        else:  # what the first process read before emptying the projection; and its end is this one's
            await opening  # before waiting: the replay begins the moment it is told
            parked, parent = await _from_the_first_process()
        applied = Applied(positions or {}, {uuid.UUID(e) for e in parked})
        processor = EventProcessor(pool, SPEC.name, SPEC.topic, SPEC.handlers, calendar=await calendar_store.load(pool),
                                   authenticate=partners.authenticate_record)
        progress = replay.Progress()
        if shard is not None:
            handed = True
            await _replay(await opening, processor, applied, progress, batch=batch, buffer=buffer,
                          report_every=report_every, report=on_progress or (lambda _: None))
            progress.finished = time.monotonic()
            return progress
        assert others is not None

        def report(own: replay.Progress) -> None:
            whole = others.summed(own)
            log.info("rebuilding the projection", extra={"progress": whole.describe()})
            if on_progress is not None:
                on_progress(whole)

        await others.tell(parked)
        handed = True
        watching = asyncio.ensure_future(others.watch(progress, stalled_after))
        try:
            await others.alongside(_replay(await opening, processor, applied, progress, batch=batch, buffer=buffer,
                                           report_every=report_every, report=report))
        finally:
            watching.cancel()
        await others.stop()
        progress = others.summed(progress)
        indexed = time.monotonic()
        made = await bulk.put_back(pool)
        log.info("indexes made again", extra={"indexes": made, "seconds": round(time.monotonic() - indexed, 1)})
        restored = await carry.restore(pool, processor)
        progress.finished = time.monotonic()
        log.info("projection rebuilt", extra={"events": progress.yielded, "progress": progress.describe(),
                                              "alerts_restored": restored, "workers": workers})
        return progress
    finally:
        if others is not None:
            await others.stop()
        if parent is not None:
            parent.cancel()
        if not handed:  # a failure before the replay: the partitions opened for it are closed
            opening.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await (await opening).close()
        if pool is not None:
            await pool.close()


async def _from_the_first_process() -> tuple[set[str], asyncio.Task[None]]:
    """A share's instructions on its standard input (one JSON line: the parked events' ids), and a watch on that
    pipe: when the first process goes away (its end of the pipe closes), this share stops too — no replay goes
    on writing unwatched, racing a ``--resume``."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    told = json.loads(await reader.readline() or b"{}")
    main = asyncio.current_task()

    async def watch() -> None:
        while await reader.read(4096):
            pass
        log.error("the first process of the rebuild is gone; this share stops")
        if main is not None:
            main.cancel()

    return set(told.get("parked", [])), asyncio.ensure_future(watch())


async def _replay(source: replay.Source, processor: EventProcessor, applied: Applied, progress: replay.Progress, *,
                  batch: int, buffer: int, report_every: float, report: Callable[[replay.Progress], None]) -> None:
    """One shard's records merged in time order and applied in batches (quiet or not, see ``Applied``)."""
    pending: list[Any] = []
    quiet = True  # what ``pending`` holds: events applied before (quiet) or not
    writing: asyncio.Task[None] | None = None
    reported = 0.0  # the first record reports at once: the total is known (each share's, summed by the first)
    try:
        async for item in replay.merged(source, decoded_in_time(processor), buffer=buffer, progress=progress):
            before = applied(item)
            if pending and (len(pending) >= batch or before != quiet):  # a batch is all quiet or all not
                if writing is not None:
                    await writing
                writing = asyncio.ensure_future(processor.process_decoded(pending, [], quiet=quiet))
                pending = []
            quiet = before
            pending.append(item)
            if time.monotonic() - reported >= report_every:
                reported = time.monotonic()
                report(progress)
    except BaseException:  # interrupted: the batch being written is rolled back, not left committing alone
        if writing is not None:
            writing.cancel()
        raise
    if writing is not None:
        await writing
    if pending:
        await processor.process_decoded(pending, [], quiet=quiet)
    report(progress)


class Others:
    """The processes replaying the other shards: started (the database's address in their environment, never on a
    command line ``ps`` shows), told to begin once the projection is ready (their instructions on their standard
    input, kept open as long as this process lives), their progress read as they report it (one JSON object of
    counts a line), watched alongside this process's own share — the first to fail fails the rebuild —, and
    stopped if this one fails."""

    def __init__(self, bootstrap: str, dsn: str, topics: list[str], group: str | None, workers: int, *, batch: int,
                 buffer: int, report_every: float, forked: dict[replay.Shard, Forked] | None = None):
        self.args = ["--bootstrap", bootstrap, "--topics", ",".join(topics), "--applied-by", group or "",
                     "--batch", str(batch), "--buffer", str(buffer), "--report-every", str(report_every)]
        path = os.environ.get("PYTHONPATH")
        self.env = {**os.environ, "LABORCASE_SUPERVISION_DSN": dsn,
                    "PYTHONPATH": os.pathsep.join([str(ROOT), *([path] if path else [])])}
        self.workers = workers
        self.procs: dict[replay.Shard, Any] = {}  # asyncio.subprocess.Process, or a ForkedProcess alike
        self.counts: dict[replay.Shard, dict[str, int]] = {}
        self.forked = forked or {}

    async def start(self) -> None:
        for shard, forked in self.forked.items():
            self.procs[shard] = await ForkedProcess.adopt(forked)
        for index in range(1, self.workers):
            shard = replay.Shard(index, self.workers)
            if shard in self.procs:  # forked already
                continue
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.cli", "supervision", "rebuild", "--shard", str(shard), *self.args,
                cwd=ROOT, env=self.env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            self.procs[shard] = proc

    async def tell(self, parked: set[str]) -> None:
        """The projection is ready: each share's instructions (it waits for them after its start-up)."""
        told = (json.dumps({"parked": sorted(parked)}) + "\n").encode()
        for proc in self.procs.values():
            assert proc.stdin is not None
            proc.stdin.write(told)
            await proc.stdin.drain()

    async def alongside(self, own: Awaitable[None]) -> None:
        """``own`` (this process's share) and the others', until all are done; the first failure is raised at
        once (the rest are stopped by ``stop``)."""
        tasks = [asyncio.ensure_future(own), *(asyncio.ensure_future(self._done(s, p)) for s, p in self.procs.items())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _done(self, shard: replay.Shard, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:  # read as it comes: a share never waits on a full pipe
            try:
                counts = json.loads(line)
            except ValueError:
                continue
            if isinstance(counts, dict) and all(isinstance(counts.get(k), int) for k in replay.Progress.COUNTED):
                self.counts[shard] = counts
        code = await proc.wait()
        if code != 0:
            raise RuntimeError(f"the replay of shard {shard} failed (exit {code}); run the rebuild again with "
                               "--resume to continue")

    async def watch(self, own: replay.Progress, after: float) -> None:
        """Say when the rebuild makes no progress for ``after`` seconds (and again every ``after`` seconds), each
        share's counts with it: a share writing nothing that long is most likely waiting on a lock."""
        stall = replay.Stall(after)
        while True:
            await asyncio.sleep(min(after / 4, 5.0))
            whole = self.summed(own)
            quiet = stall.seen((whole.read, whole.yielded), time.monotonic())
            if quiet is not None:
                shares = {str(replay.Shard(0, self.workers)): own.counts(), **{str(s): c for s, c in self.counts.items()}}
                log.warning("the rebuild has made no progress for %.0f s; is something holding a lock on the projection "
                            "(the supervision service still running against this database?)", quiet,
                            extra={"progress": whole.describe(), "shares": shares})

    def summed(self, own: replay.Progress) -> replay.Progress:
        whole = replay.Progress(started=own.started, finished=own.finished)
        whole.add(own.counts())
        for counts in self.counts.values():
            whole.add(counts)
        return whole

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.terminate()
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs.values():
            await proc.wait()


# --- shares forked before the event loop starts (``laborcase supervision rebuild``) ---------------------------------


@dataclass(frozen=True)
class Forked:
    """A share forked by ``fork_shares``: its pid and this process's ends of its standard input and output."""

    pid: int
    input_fd: int
    output_fd: int


def fork_shares(workers: int, run_share: Callable[[replay.Shard], int]) -> dict[replay.Shard, Forked]:
    """The other shares of a rebuild as forks of this process, made before any event loop or thread exists: each
    has this process's imports already (a started process spends a second of CPU importing them, late, while the
    others replay), and runs ``run_share`` on pipes as its standard input and output — exactly what a share
    started as ``--shard k/n`` does — then exits with its code. Where this process cannot fork safely (no
    ``os.fork``, or a thread already running: a fork copies only the caller's thread, and a lock another holds
    would stay held), nothing is forked and the rebuild starts its shares as new processes."""
    if workers < 2 or not hasattr(os, "fork") or threading.active_count() > 1:
        return {}
    sys.stdout.flush()
    sys.stderr.flush()
    forked: dict[replay.Shard, Forked] = {}
    for index in range(1, workers):
        shard = replay.Shard(index, workers)
        input_r, input_w = os.pipe()
        output_r, output_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the share
            code = 1
            try:
                os.dup2(input_r, 0)
                os.dup2(output_w, 1)
                # the earlier shares' pipe ends too: each share sees its input close when the first process goes
                for fd in (input_r, input_w, output_r, output_w,
                           *(f for other in forked.values() for f in (other.input_fd, other.output_fd))):
                    os.close(fd)
                code = run_share(shard)
            except BaseException:
                log.exception("the replay of shard %s failed", shard)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(input_r)
        os.close(output_w)
        forked[shard] = Forked(pid, input_w, output_r)
    return forked


class _PipeInput:
    """A forked share's standard input, written as ``asyncio.StreamWriter`` is (a line may exceed the pipe's
    buffer: written in a thread, never blocking the loop)."""

    def __init__(self, fd: int):
        self.fd: int | None = fd
        self.pending = b""

    def write(self, data: bytes) -> None:
        self.pending += data

    async def drain(self) -> None:
        data, self.pending = self.pending, b""
        fd = self.fd
        while data and fd is not None:
            written = await asyncio.to_thread(os.write, fd, data)
            data = data[written:]

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


class ForkedProcess:
    """A forked share, as ``Others`` uses an ``asyncio.subprocess.Process``: ``stdin``, ``stdout``, ``wait``,
    ``terminate``, ``returncode``."""

    def __init__(self, pid: int, stdin: _PipeInput, stdout: asyncio.StreamReader):
        self.pid, self.stdin, self.stdout = pid, stdin, stdout
        self.returncode: int | None = None
        self._exit: asyncio.Future[tuple[int, int]] | None = None

    @classmethod
    async def adopt(cls, forked: Forked) -> ForkedProcess:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(forked.output_fd, "rb", buffering=0))
        return cls(forked.pid, _PipeInput(forked.input_fd), reader)

    async def wait(self) -> int:
        if self.returncode is None:
            if self._exit is None:  # one waitpid, however many wait
                self._exit = asyncio.ensure_future(asyncio.to_thread(os.waitpid, self.pid, 0))
            _, status = await asyncio.shield(self._exit)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def terminate(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
