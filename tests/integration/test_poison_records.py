"""Hostile records between valid partner events, through the real broker and PostgreSQL: every valid event
becomes its effect within seconds, every hostile one is in the dead-letter topic with the service that
refused it and the reason — no consumer of the partner topics stalls."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from datetime import UTC

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from events.envelope import encode, kafka_headers, new_event
from events.partner import BureauCaseReferred
from services.backbone import dlq
from services.intake.service import SPEC as INTAKE
from services.legal_aid.service import SPEC as LEGAL_AID
from services.mediation.service import SPEC as MEDIATION
from services.stack.hostile import TAG_HEADER, readers, records
from services.supervision.service import SPEC as SUPERVISION
from tests import clock, identity
from tests.conftest import wait_until
from tests.factories import employer, referred, worker
from tests.integration.conftest import running

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
LIMIT = 64 * 1024


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as services:
        yield {spec.name: await services.enter_async_context(
            running(spec, kafka_bootstrap, embedded_pg.admin_dsn(), max_event_bytes=LIMIT))
            for spec in (INTAKE, MEDIATION, LEGAL_AID, SUPERVISION)}


def signed(event) -> list[tuple[str, bytes]]:
    return identity.kafka_signature(encode(event), event_type=event.type)


def bureau_referral(case_no: str):
    data = BureauCaseReferred(bureau_code="XNLZ", arbitration_case_no=case_no, region_code="630104",
                              referred_at=clock.now().astimezone(UTC), workers=[worker(area="630104")],
                              employer=employer(7, region="630104"),
                              claims=[{"type": "social_insurance", "amount_cny": 9000}])  # type: ignore[list-item]
    return new_event("bureau.case_referred", source="bureau/XNLZ", data=data, subject=case_no)


async def test_hostile_records_are_dead_lettered_and_the_valid_ones_between_them_become_cases(stack, kafka_bootstrap):
    tag = uuid.uuid4().hex
    year = clock.today().year
    court = [referred(f"({year})青0103民诉前调{tag[:6]}{i}号") for i in range(2)]
    bureau = [bureau_referral(f"西劳人仲案字〔{year}〕{tag[:6]}{i}号") for i in range(2)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=4 * LIMIT)
    await producer.start()
    written: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # topic -> (partition, offset, kind)
    try:
        for topic, valid in (("court.events", court), ("bureau.events", bureau)):
            first, last = valid
            await producer.send_and_wait(topic, encode(first), key=first.subject.encode(),
                                         headers=kafka_headers(first) + signed(first))
            for n, bad in enumerate(records(tag, max_event_bytes=LIMIT)):
                # spread over the partitions: the valid events share partitions with hostile ones
                meta = await producer.send_and_wait(topic, bad.value, key=f"{tag}-{n}".encode(),
                                                    headers=list(bad.headers))
                written[topic].append((meta.partition, meta.offset, bad.kind))
            await producer.send_and_wait(topic, encode(last), key=last.subject.encode(),
                                         headers=kafka_headers(last) + signed(last))
    finally:
        await producer.stop()
    sent = time.monotonic()

    intake = stack["intake"]

    async def cases() -> bool | None:
        for event in court + bureau:
            ref = event.data["court_case_no"] if event.type.startswith("court") else event.data["arbitration_case_no"]
            if not (await intake.get("/api/v1/intake/cases", params={"ref": ref})).json()["cases"]:
                return None
        return True

    await wait_until(cases, timeout=10, what="every valid referral between the hostile records to become a case")
    print(f"\nvalid events became cases {time.monotonic() - sent:.1f} s after the last was written")

    async def refused() -> dict | None:
        found: dict[tuple[str, int, int], set[str]] = defaultdict(set)
        reasons: dict[tuple[str, int, int], str] = {}
        for letter in await dlq.list_dead_letters(kafka_bootstrap, ["court.events.dlq", "bureau.events.dlq"]):
            if letter.header(TAG_HEADER) != tag:
                continue
            where = (letter.original_topic, int(letter.header("x-dlq-partition")), int(letter.header("x-dlq-offset")))
            found[where].add(letter.header("x-dlq-service"))
            reasons[where] = letter.reason
        wanted = {(t, p, o): readers(t) for t, rows in written.items() for p, o, _ in rows}
        done = all(found.get(k, set()) >= v for k, v in wanted.items())
        return {"found": found, "reasons": reasons} if done else None

    got = await wait_until(refused, timeout=30, what="every hostile record dead-lettered by every service reading it")
    for topic, rows in written.items():
        for partition, offset, kind in rows:
            reason = got["reasons"][(topic, partition, offset)]
            assert reason and ":" in reason, (kind, reason)
            print(f"  {topic}[{partition}]@{offset} {kind}: {sorted(got['found'][(topic, partition, offset)])} "
                  f"— {reason[:90]}")
