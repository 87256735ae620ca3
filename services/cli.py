"""``laborcase``: the command for people who run it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from events.catalog import SERVICES
from services.backbone.settings import Settings


def _dlq(args: argparse.Namespace) -> int:
    from services.backbone import dlq

    bootstrap = Settings().kafka_bootstrap_servers
    if args.dlq_command == "list":
        letters = asyncio.run(dlq.list_dead_letters(bootstrap, [args.topic] if args.topic else None))
        for letter in letters:
            print(json.dumps(letter.summary(), ensure_ascii=False))
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
        return 0
    if args.dlq_command == "show":
        letter = asyncio.run(dlq.find(bootstrap, args.id))
        print(json.dumps(letter.summary(), ensure_ascii=False, indent=2))
        print("headers:")
        for k, v in letter.headers:
            print(f"  {k}: {v.decode(errors='replace')}")
        print("value:")
        print(letter.value.decode(errors="replace"))
        return 0
    if args.dlq_command == "replay":
        letter = asyncio.run(dlq.find(bootstrap, args.id))
        value = Path(args.value_file).read_bytes() if args.value_file else None
        asyncio.run(dlq.replay(bootstrap, letter, value=value))
        print(f"replayed {letter.id} to {letter.original_topic}")
        return 0
    return 2


def _calendar(args: argparse.Namespace) -> int:
    import httpx

    from services.calendar.seed import read_year_file

    base = Settings().url_for("intake") + "/api/v1/intake/calendar"
    if args.calendar_command == "show":
        print(json.dumps(httpx.get(f"{base}/{args.year}", timeout=10).json(), ensure_ascii=False, indent=2))
        return 0
    try:
        year = read_year_file(Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"calendar file rejected: {exc}", file=sys.stderr)
        return 2
    response = httpx.put(f"{base}/{year.year}", content=Path(args.file).read_bytes(), timeout=30,
                         headers={"content-type": "application/json"})
    print(json.dumps(response.json(), ensure_ascii=False))
    return 0 if response.is_success else 1


def _audit(args: argparse.Namespace) -> int:
    from services.backbone.audit_archive import ArchiveRefused, archive_month
    from services.calendar.model import local_date

    settings = Settings()
    try:
        done = asyncio.run(archive_month(args.dsn or settings.dsn_for(args.service), month=args.month,
                                         out_dir=Path(args.out), by=args.by, service=args.service,
                                         today=local_date(settings.clock.now())))
    except ArchiveRefused as exc:
        print(f"laborcase: {exc}", file=sys.stderr)
        return 1
    print(f"{done.month}: {done.rows} 条审计记录已归档到 {done.file} (sha256 {done.sha256})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="laborcase", description="工会劳动争议调解案件管理 — laborcase")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the whole stack in the foreground")
    p_up.add_argument("--demo", action="store_true", help="load the demo data once ready")
    p_up.add_argument("--verbose", action="store_true", help="stream every service's log to the terminal")

    p_dlq = sub.add_parser("dlq", help="dead letters: list, show, replay")
    dsub = p_dlq.add_subparsers(dest="dlq_command", required=True)
    p_list = dsub.add_parser("list")
    p_list.add_argument("--topic", help="one dead-letter topic, e.g. court.events.dlq")
    dsub.add_parser("show").add_argument("id", help="<dlq topic>:<partition>:<offset>")
    p_replay = dsub.add_parser("replay")
    p_replay.add_argument("id")
    p_replay.add_argument("--value-file", help="replay this corrected value instead of the original bytes")

    p_cal = sub.add_parser("calendar", help="the working-day calendar")
    csub = p_cal.add_subparsers(dest="calendar_command", required=True)
    csub.add_parser("load", help="load a year of the State Council's holiday notice").add_argument(
        "file", help='JSON: {"year": 2027, "holidays": [...], "workdays": [...], "source": "..."}')
    csub.add_parser("show", help="show a year as intake holds it").add_argument("year", type=int)

    p_sup = sub.add_parser("supervision", help="supervision's projection")
    ssub = p_sup.add_subparsers(dest="supervision_command", required=True)
    p_rebuild = ssub.add_parser("rebuild", help="rebuild the projection from scratch by replaying the topics")
    p_rebuild.add_argument("--dsn", help="target database (default: LABORCASE_SUPERVISION_DSN; stop supervision first)")
    p_rebuild.add_argument("--resume", action="store_true",
                           help="continue an interrupted rebuild (keeps what it applied; the inbox skips it)")
    p_rebuild.add_argument("--topics", help="replay these topics instead of the ones supervision consumes "
                                            "(comma-separated: a copy of the log, such as the bench's)")
    p_rebuild.add_argument("--workers", type=int, default=None,
                           help="processes replaying side by side, each a share of the partitions (default: the "
                                "cores this process may run on, at most 8)")
    # one share of a rebuild that another process started (it prepares the projection and finishes it)
    p_rebuild.add_argument("--shard", help=argparse.SUPPRESS)
    p_rebuild.add_argument("--bootstrap", help=argparse.SUPPRESS)
    p_rebuild.add_argument("--applied-by", help=argparse.SUPPRESS)
    p_rebuild.add_argument("--batch", type=int, default=2000, help=argparse.SUPPRESS)
    p_rebuild.add_argument("--buffer", type=int, default=250, help=argparse.SUPPRESS)
    p_rebuild.add_argument("--report-every", type=float, default=5.0, help=argparse.SUPPRESS)

    p_bench = sub.add_parser("bench", help="measure the docs/domain/targets.md figures against the floor (local stack)")
    p_bench.add_argument("--cases", type=int, default=None, help="cases through the full lifecycle (300)")
    p_bench.add_argument("--quick", action="store_true", help="smaller run (100k deadlines, fewer events)")
    p_bench.add_argument("--smoke", action="store_true", help="tiny run that only proves every figure is measured")
    p_bench.add_argument("--runs", type=int, default=1, help="repeat the whole run and print medians")
    p_bench.add_argument("--streams", type=int, default=None,
                         help="supervisors' boards held open while the API is measured (1000)")
    p_bench.add_argument("--through-console", action="store_true",
                         help="send every API call through the console's proxy (one more HTTP hop each)")
    p_bench.add_argument("--replay-events", type=int, default=None, metavar="N",
                         help="the rebuild's log: N events (100,000, --quick too), e.g. 1000000 for a province")
    p_bench.add_argument("--profile", type=int, default=0, metavar="CASES",
                         help="then profile every service over a lifecycle of this many more cases and print where "
                              "its CPU goes, by library (100 is enough)")
    p_bench.add_argument("--grow-to", type=int, default=None, metavar="CASES",
                         help="then grow every database to this many cases (1000000 for the memory target) and "
                              "measure memory and reads again")

    p_chaos = sub.add_parser("chaos", help="fault injection: kill services, restart PostgreSQL, check invariants")
    p_chaos.add_argument("--cases", type=int, default=200)
    p_chaos.add_argument("--kills", type=int, default=4)
    p_chaos.add_argument("--pg-restarts", type=int, default=1)
    p_chaos.add_argument("--pause-seconds", type=float, default=30, help="freeze one service (SIGSTOP) this long")
    p_chaos.add_argument("--cuts", type=int, default=1, help="cut services off the broker this many times")
    p_chaos.add_argument("--cut-seconds", type=float, default=30)
    p_chaos.add_argument("--rate", type=float, default=2.0, help="new cases per second")
    p_chaos.add_argument("--hostile", type=int, default=6,
                         help="rounds of hostile records (and a valid referral) written to each partner topic")

    p_audit = sub.add_parser("audit", help="the audit log (operators)")
    asub = p_audit.add_subparsers(dest="audit_command", required=True)
    p_archive = asub.add_parser("archive", help="move a finished month of a service's audit log to a file")
    p_archive.add_argument("--month", required=True, help="YYYY-MM (Asia/Shanghai), a month that is over")
    p_archive.add_argument("--service", required=True, choices=list(SERVICES))
    p_archive.add_argument("--dsn", help="the service's database (default: LABORCASE_<SERVICE>_DSN)")
    p_archive.add_argument("--out", default=".laborcase/audit-archive", help="directory for the archive files")
    p_archive.add_argument("--by", default=os.environ.get("USER", "operator"), help="who archives (recorded)")

    p_kafka = sub.add_parser("kafka", help="the brokers' access control")
    ksub = p_kafka.add_subparsers(dest="kafka_command", required=True)
    ksub.add_parser("acls", help="print the SCRAM users and ACLs (services and the accounts file's partners) as "
                                 "a shell script for kafka-configs.sh / kafka-acls.sh")

    p_topics = sub.add_parser("topics", help="Kafka topics")
    p_topics.add_subparsers(dest="topics_command", required=True).add_parser(
        "create", help="create every catalogued topic with its partition count (and replication on a cluster)")

    p_contracts = sub.add_parser("contracts", help="check or regenerate contracts/")
    p_contracts.add_argument("--write", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "up":
        from services.stack.supervisor import up

        return up(demo=args.demo, verbose=args.verbose)
    if args.command == "dlq":
        return _dlq(args)
    if args.command == "calendar":
        return _calendar(args)
    if args.command == "audit":
        return _audit(args)
    if args.command == "kafka":
        from services.security.accounts import accounts
        from services.security.kafka_acls import plan, script, service_principal

        partners = [(p.key_id, p.kind) for p in accounts().partners.values()]
        users = [service_principal(s) for s in SERVICES] + [k for k, _ in partners]
        print(script(plan(partners), users=users), end="")
        return 0
    if args.command == "supervision":
        from services.backbone.replay import YOUNG_GC_THRESHOLD, Shard, default_shards
        from services.backbone.server import run as run_loop
        from services.supervision.rebuild import Forked, fork_shares, rebuild

        settings = Settings()
        shard = Shard.parse(args.shard) if args.shard else None
        workers = max(args.workers or default_shards(), 1)

        def replayed(shard: Shard | None, report: Callable[[Any], None],
                     forked: dict[Shard, Forked] | None = None) -> Any:
            return run_loop(rebuild(args.bootstrap or settings.kafka_bootstrap_servers,
                                    args.dsn or settings.dsn_for("supervision"), resume=args.resume or shard is not None,
                                    on_progress=report, topics=args.topics.split(",") if args.topics else None,
                                    applied_by=args.applied_by, workers=workers, shard=shard, forked=forked,
                                    batch=args.batch, buffer=args.buffer, report_every=args.report_every),
                            young_gc=YOUNG_GC_THRESHOLD)

        def counts(p: Any) -> None:  # a share's, for the process that started it: one JSON line each time
            print(json.dumps(p.counts()), flush=True)

        def share(shard: Shard) -> int:
            replayed(shard, counts)
            return 0

        if shard is not None:
            return share(shard)
        # the other shares forked now, before any loop: they have this process's imports already
        forked = fork_shares(workers, share)
        done = replayed(None, lambda p: print(p.describe(), flush=True), forked)
        print(f"projection rebuilt from {done.yielded} events in {done.seconds:.1f} s "
              f"({done.yielded / max(done.seconds, 1e-9):,.0f} events/s, {done.skipped} records passed over)")
        return 0
    if args.command in ("bench", "chaos"):  # SIGTERM (a timeout) stops the stack they started, like Ctrl-C
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.command == "bench":
        from services.stack.bench import main as bench

        if args.profile < 0:
            parser.error("bench --profile: a number of cases, 0 (no profile) or more")

        return bench(cases=args.cases, mode="smoke" if args.smoke else "quick" if args.quick else "full",
                     runs=args.runs, grow_to=args.grow_to, through_console=args.through_console,
                     replay_events=args.replay_events, profile=args.profile,
                     streams=args.streams)
    if args.command == "chaos":
        from services.stack.chaos import main as chaos

        return chaos(cases=args.cases, kills=args.kills, pg_restarts=args.pg_restarts,
                     pause_seconds=args.pause_seconds, cuts=args.cuts, cut_seconds=args.cut_seconds, rate=args.rate,
                     hostile_rounds=args.hostile)
    if args.command == "topics":
        from services.backbone import kafka

        settings = Settings()
        bootstrap = settings.kafka_bootstrap_servers
        asyncio.run(kafka.wait_for_broker(bootstrap, timeout=120))
        created = asyncio.run(kafka.ensure_topics(bootstrap, kafka.catalog_topics(settings),
                                                  settings=settings))
        print(f"{len(created)} topic(s) created: {', '.join(created) or '-'}")
        return 0
    if args.command == "contracts":
        from events.contracts import main as contracts_main

        return contracts_main(["--write"] if args.write else [])
    return 2


if __name__ == "__main__":
    sys.exit(main())
