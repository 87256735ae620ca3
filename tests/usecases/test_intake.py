"""Intake's use cases on real PostgreSQL, without a broker: registering (new, invalid, linked, duplicate out of
scope), partner referrals, re-tiering, declining, and the domain errors they answer with."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from events.common import Channel, Claim, ClaimType, Tier
from events.envelope import new_event
from events.followup import CaseClosed, CaseReopened
from services.backbone.caselog import entries
from services.backbone.errors import Conflict, Forbidden, Invalid, NotFound
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.dispatch import decline
from services.intake.handlers import referral_handlers
from services.intake.referrals import register_court_referral
from services.intake.registration import Submission, case_closed, register
from services.intake.registration_keys import RegistrationKey, once
from services.intake.repository import prune_replay_caches
from services.intake.tiering import reclassify
from tests.factories import court_event, court_referral, employer, worker
from tests.usecases.conftest import world_fixture

#: every use case here starts, moves or meets clocks: run again at each shifted moment (tests/clock.py)
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("intake")
CONFIG = IntakeConfig.default()
_n = itertools.count(7000)


def submission(world, *, workers: int = 1, claims: list[Claim] | None = None, region: str = "630102",
               **extra) -> Submission:
    n = next(_n)
    values = {
        "channel": Channel.hotline, "received_at": world.now, "region_code": region,
        "workers": [worker(n * 10 + i) for i in range(workers)], "employer": employer(n),
        "claims": claims or [Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("6800"))],
        "summary": "拖欠两个月工资", "actor": "热线坐席01",
    }
    values.update(extra)
    return Submission(**values)


async def case_row(world, case_id: str):
    return await world.conn.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)


async def test_a_valid_hotline_submission_is_registered_triaged_and_dispatched(world):
    out = await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))
    assert out.status == "dispatched" and not out.linked and out.org_unit and out.tier == "general"
    row = await case_row(world, out.case_id)
    assert row["status"] == "dispatched" and row["dispatch_attempt"] == 1 and row["worker_count"] == 1
    assert row["channel"] == "hotline" and row["route"] == out.route == "mediation"
    published = world.events()
    assert published.index("intake.case_received") < published.index("intake.case_triaged") < published.index(
        "intake.case_dispatched")
    clock = await world.conn.fetchrow("SELECT state FROM deadlines WHERE case_id = $1 AND kind = 'tier'", out.case_id)
    assert clock["state"] == "handed_over"
    assert [e["action"] for e in await entries(world.conn, out.case_id)] == ["received", "dispatched"]


async def test_an_answer_on_the_spot_resolves_the_case_in_intake(world):
    out = await world.run(lambda ctx: register(ctx, submission(world, route="answered", answer="已告知法律规定"),
                                               config=CONFIG))
    assert out.status == "answered"
    assert world.events("intake.case_answered") and not world.events("intake.case_dispatched")
    assert await world.conn.fetchval("SELECT state FROM deadlines WHERE case_id = $1", out.case_id) == "met"


async def test_an_invalid_submission_is_refused_with_each_field_and_nothing_is_written(world):
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: register(ctx, submission(world, region="639999"), config=CONFIG))
    assert refused.value.code == "invalid"
    assert [(e.field, e.code) for e in refused.value.errors] == [("region_code", "unknown_region")]
    assert "行政区划" in refused.value.errors[0].reason

    with pytest.raises(Invalid) as unanswered:
        await world.run(lambda ctx: register(ctx, submission(world, route="answered"), config=CONFIG))
    assert [(e.field, e.code) for e in unanswered.value.errors] == [("answer", "missing")]

    with pytest.raises(Invalid) as tier:  # a group dispute is at least 难点
        await world.run(lambda ctx: register(ctx, submission(world, workers=10, tier=Tier.general, tier_reason="简单"),
                                             config=CONFIG))
    assert [(e.field, e.code) for e in tier.value.errors] == [("tier", "tier_rule")]
    assert await world.conn.fetchval("SELECT count(*) FROM cases") == 0
    assert world.events() == []


async def test_a_checksum_warning_needs_a_clerks_reason(world):
    sub = submission(world)
    good = sub.workers[0].id_number
    bad = sub.workers[0].model_copy(update={"id_number": good[:-1] + ("0" if good[-1] != "0" else "1")})
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: register(ctx, replace(sub, workers=[bad]), config=CONFIG))
    assert refused.value.code == "needs-override"
    assert [(e.field, e.code) for e in refused.value.errors] == [("workers[0].id_number", "id_checksum")]
    accepted = replace(sub, workers=[bad], overrides={"workers[0].id_number": "已核对原件"})
    out = await world.run(lambda ctx: register(ctx, accepted, config=CONFIG))
    assert out.warnings[0].override_reason == "已核对原件" and out.warnings[0].overridden_by == "热线坐席01"


async def test_a_duplicate_inside_the_submitters_scope_links_to_the_open_case(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG, visible=lambda unit: True))
    again = replace(first, channel=Channel.online, workers=[*first.workers, worker(next(_n))])
    two = await world.run(lambda ctx: register(ctx, again, config=CONFIG, visible=lambda unit: True))
    assert two.linked and two.case_id == one.case_id
    assert (await case_row(world, one.case_id))["worker_count"] == 2
    assert world.events("intake.case_linked") == ["intake.case_linked"]
    assert await world.conn.fetchval("SELECT count(*) FROM cases") == 1


async def test_a_duplicate_outside_the_submitters_scope_is_a_new_case_flagged_not_disclosed(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG))
    elsewhere = replace(first, workers=[*first.workers, worker(next(_n))])
    two = await world.run(lambda ctx: register(ctx, elsewhere, config=CONFIG, visible=lambda unit: False))
    assert not two.linked and two.case_id != one.case_id
    assert one.case_id not in repr(two)  # the submitter learns nothing of the other case
    assert (await case_row(world, one.case_id))["worker_count"] == 1  # nothing written into it
    assert world.events("intake.duplicate_suspected") == ["intake.duplicate_suspected"]
    assert not world.events("intake.case_linked")
    suspected = world.records("intake.duplicate_suspected")
    assert one.case_id.encode() in suspected[0].value and suspected[0].key == two.case_id.encode()
    assert "duplicate_suspected" in [e["action"] for e in await entries(world.conn, two.case_id)]


async def test_a_referral_for_a_case_number_another_court_registered_is_forbidden(world):
    referral = court_referral(referred_at=world.now)
    await world.run(lambda ctx: register_court_referral(ctx, referral, config=CONFIG))
    other = referral.model_copy(update={"court_code": "QH0104"})
    with pytest.raises(Forbidden) as refused:
        await world.run(lambda ctx: register_court_referral(ctx, other, config=CONFIG))
    assert refused.value.code == "out-of-scope" and refused.value.describe().startswith("out-of-scope: ")
    again = await world.run(lambda ctx: register_court_referral(ctx, referral, config=CONFIG))
    assert again.linked


def closing(case_id: str):
    async def step(ctx) -> None:
        case_closed(ctx, case_id)
    return step


async def test_a_batch_sets_statuses_in_one_statement_and_a_referral_after_a_closing_sees_it(world):
    """Follow-up closes two cases and reopens one of them in one consumed batch, then a court refers the same
    dispute as the other: the statuses are one statement, the later event wins, and the referral — which reads
    open cases — does not link to the case the batch closed before it."""
    on = referral_handlers(CONFIG)
    first = court_referral(referred_at=world.now)
    kept = await world.run(lambda ctx: register_court_referral(ctx, first, config=CONFIG))
    other = await world.run(lambda ctx: register_court_referral(ctx, court_referral(referred_at=world.now),
                                                                config=CONFIG))
    again = first.model_copy(update={"court_case_no": "(2026)青0103民诉前调99999号"})  # same worker and employer
    sent: list[str] = []
    world.conn.add_query_logger(lambda query: sent.append(query.query))

    async def batch(ctx) -> None:
        closed = {c: CaseClosed(case_id=c, closed_at=world.now, reason="履行完毕") for c in (kept.case_id, other.case_id)}
        reopened = CaseReopened(case_id=other.case_id, reopened_at=world.now, reason="未履行", route="mediation")
        for event_type, data in (("followup.case_closed", closed[kept.case_id]),
                                 ("followup.case_closed", closed[other.case_id]),
                                 ("followup.case_reopened", reopened)):
            await on[event_type](ctx, new_event(event_type, source="laborcase/followup", data=data), data)
        await on["court.case_referred"](ctx, court_event("court.case_referred", again), again)

    await world.run(batch)
    referred = await world.conn.fetchval("SELECT case_id FROM case_refs WHERE ref = $1", again.court_case_no)
    assert referred not in (None, kept.case_id, other.case_id)  # a new case: the one it matched was closed
    assert sum(q == repo.SET_STATUSES for q in sent) == 1
    assert (await case_row(world, kept.case_id))["status"] == "closed"
    assert (await case_row(world, other.case_id))["status"] == "dispatched"


async def test_re_tiering_moves_the_due_time_and_is_refused_when_closed_or_unchanged(world):
    out = await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))
    changed = await world.run(lambda ctx: reclassify(ctx, out.case_id, tier=Tier.difficult, reason="经核实案情复杂",
                                                     actor="主任", config=CONFIG))
    assert changed.tier == "difficult" and changed.due_at != out.due_at
    assert world.events("intake.case_reclassified") == ["intake.case_reclassified"]
    with pytest.raises(Conflict) as unchanged:
        await world.run(lambda ctx: reclassify(ctx, out.case_id, tier=Tier.difficult, reason="再次调整", actor="主任",
                                               config=CONFIG))
    assert unchanged.value.code == "unchanged"
    await world.run(closing(out.case_id))
    with pytest.raises(Conflict) as closed:
        await world.run(lambda ctx: reclassify(ctx, out.case_id, tier=Tier.general, reason="结案后调整", actor="主任",
                                               config=CONFIG))
    assert closed.value.code == "closed" and closed.value.message == "案件已办结，不能调整分级"


async def test_declining_goes_to_the_parent_unit_only_from_the_holder(world):
    out = await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))
    with pytest.raises(Conflict) as wrong:
        await world.run(lambda ctx: decline(ctx, out.case_id, org_unit="QH-XN-CZ", reason="不是本单位", actor="张",
                                            config=CONFIG))
    assert wrong.value.code == "not-holder"
    back = await world.run(lambda ctx: decline(ctx, out.case_id, org_unit=out.org_unit, reason="不属本单位管辖",
                                               actor="王", config=CONFIG))
    assert back.org_unit == CONFIG.hierarchy.parent(out.org_unit).code
    assert (await case_row(world, out.case_id))["dispatch_attempt"] == 2


async def test_a_case_that_does_not_exist_is_not_found(world):
    with pytest.raises(NotFound) as missing:
        await world.run(lambda ctx: reclassify(ctx, "LC00000000000000", tier=Tier.general, reason="不存在", actor="主任",
                                               config=CONFIG))
    assert missing.value.message == "案件 LC00000000000000 不存在" and missing.value.code == "not-found"
    with pytest.raises(NotFound):
        await world.run(lambda ctx: decline(ctx, "LC00000000000000", org_unit="QH-XN-CD", reason="不存在", actor="王",
                                            config=CONFIG))


async def test_a_registration_sent_again_under_its_key_registers_links_and_tells_nothing_more(world):
    sub = submission(world)
    key = RegistrationKey.of("clerk-xn", "4f1c2b7e-retry", b'{"the": "body"}')
    first = await world.run(lambda ctx: once(ctx, key, lambda: register(ctx, sub, config=CONFIG)))
    published = len(world.records())
    again = await world.run(lambda ctx: once(ctx, key, lambda: register(ctx, sub, config=CONFIG)))
    assert again.replayed and not first.replayed and again.case_id == first.case_id and not again.linked
    assert again.query_code is None and first.query_code  # shown once: the worker has it by SMS
    assert len(world.records()) == published  # no second 受理 SMS, no link, no second code
    assert await world.conn.fetchval("SELECT count(*) FROM query_codes WHERE case_id = $1", first.case_id) == 1

    changed = RegistrationKey.of("clerk-xn", "4f1c2b7e-retry", b'{"the": "other body"}')
    with pytest.raises(Invalid) as reused:
        await world.run(lambda ctx: once(ctx, changed, lambda: register(ctx, sub, config=CONFIG)))
    assert reused.value.code == "idempotency-key-reused" and reused.value.errors[0].field == "Idempotency-Key"

    other_caller = RegistrationKey.of("clerk-other", "4f1c2b7e-retry", b'{"the": "body"}')
    linked = await world.run(lambda ctx: once(ctx, other_caller, lambda: register(ctx, sub, config=CONFIG)))
    assert linked.linked and not linked.replayed and linked.case_id == first.case_id  # another login's key


async def test_an_idempotency_key_must_be_a_token(world):
    for bad in ("short", "有中文的键值有中文的键值", "with space inside", "x" * 201):
        with pytest.raises(Invalid) as refused:
            RegistrationKey.of("clerk", bad, b"{}")
        assert refused.value.code == "invalid-idempotency-key"


async def test_registration_keys_are_forgotten_after_the_retention_with_the_ingress_replay_cache(world):
    await world.conn.execute("INSERT INTO registration_keys (caller, key, fingerprint, created_at) VALUES "
                             "('clerk', 'old-key-0001', 'f', now() - interval '3 days'), "
                             "('clerk', 'new-key-0001', 'f', now())")
    assert await prune_replay_caches(world.conn, days=2) >= 1
    assert [r["key"] for r in await world.conn.fetch("SELECT key FROM registration_keys WHERE caller = 'clerk' "
                                                     "AND key LIKE '%-key-0001'")] == ["new-key-0001"]
