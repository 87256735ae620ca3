"""Who may see and do what, held at every door, with authentication on — each finding of the hostile review has
a test here that fails without its fix (real broker and PostgreSQL where the finding lives there).

Scope leaks (cross-province duplicates, the audit trail, 403 versus 404, what a court reads), identity (the
internal principal, actors from bodies), partners on Kafka, sessions (logout, account changes, streams), abuse
(login guessing, hostile headers, open redirects, half-sent requests)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter, Request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.backbone import dlq
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.legal_aid.service import SPEC as LEGAL_AID
from services.mediation.service import SPEC as MEDIATION
from services.security import tokens
from services.security.accounts import hash_password, write_private
from services.security.guard import CLIENT_HEADER, client_statement, safe_next
from services.security.policy import Principal
from services.supervision.service import SPEC as SUPERVISION
from tests import clock, identity
from tests.conftest import wait_until
from tests.integration.conftest import running

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
_n = iter(range(1, 10**6))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def apps(kafka_bootstrap, embedded_pg):
    async with AsyncExitStack() as stack:
        yield {spec.name: await stack.enter_async_context(running(spec, kafka_bootstrap, embedded_pg.admin_dsn(),
                                                                  auth_required=True))
               for spec in (INTAKE, MEDIATION, LEGAL_AID, SUPERVISION)}


def token(role: str, unit: str | None, *, subject: str | None = None, partner: str | None = None,
          mediator_id: str | None = None, name: str = "") -> str:
    return tokens.issue(Principal(subject or f"{role}-{unit}", role, unit, partner, name,  # type: ignore[arg-type]
                                  mediator_id=mediator_id))


def auth(role: str, unit: str | None, **kw: Any) -> dict[str, str]:
    return {"authorization": f"Bearer {token(role, unit, **kw)}"}


def case_body(region: str, *, n: int | None = None, worker_area: str | None = None, uscc_area: str | None = None
              ) -> dict[str, Any]:
    n = n if n is not None else next(_n)
    return {"channel": "hotline", "received_at": clock.now_iso(), "region_code": region, "summary": "权限测试",
            "workers": [{"name": f"权限{n}", "id_number": make_id_number(worker_area or region, date(1990, 1, 1),
                                                                        4000 + n), "phone": f"1380099{n:04d}"}],
            "employer": {"name": f"权限公司{n}", "uscc": make_uscc(uscc_area or region, 9000 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 1000}]}


async def new_case(apps, region: str, clerk_unit: str = "QH", **kw: Any) -> str:
    r = await apps["intake"].post("/api/v1/cases", json=case_body(region, **kw), headers=auth("clerk", clerk_unit))
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


# --- scope leaks ------------------------------------------------------------------------------------------


async def test_a_duplicate_in_another_province_is_neither_linked_nor_disclosed_but_flagged(apps):
    """A Sichuan clerk registers a worker and employer that match an open Qinghai case (the same people, a case in
    Beijing by a Sichuan worker — 省际联动维权)."""
    n = next(_n)
    qh = await new_case(apps, "630102", n=n, worker_area="511502", uscc_area="630102")  # a Sichuan worker in Qinghai
    body = case_body("110105", n=n, worker_area="511502", uscc_area="630102")  # same worker, same employer
    r = await apps["intake"].post("/api/v1/cases", json=body, headers=auth("clerk", "SC"))
    assert r.status_code == 201, r.text
    sc = r.json()
    # the worker's query code is random letters, and one in about a hundred holds "QH" ("…Q2FQH"): not Qinghai's
    said = json.dumps({k: v for k, v in sc.items() if k != "query_code"}, ensure_ascii=False)
    assert sc["case_id"] != qh and not sc["linked"] and qh not in said and "QH" not in said
    intake = apps["intake"].runtime
    assert await intake.pool.fetchval("SELECT worker_count FROM cases WHERE case_id = $1", qh) == 1  # not written into

    async def flagged(unit: str, case_id: str) -> dict | None:
        r = await apps["supervision"].get("/api/v1/alerts", params={"state": "attention"},
                                          headers=auth("supervisor", unit))
        return next((a for a in r.json()["alerts"] if a["case_id"] == case_id and a["kind"] == "duplicate"), None)

    mine = await wait_until(lambda: flagged("SC", sc["case_id"]), what="Sichuan told of its own case")
    theirs = await wait_until(lambda: flagged("QH", qh), what="Qinghai told of its own case")
    assert qh not in json.dumps(mine, ensure_ascii=False) and sc["case_id"] not in json.dumps(theirs, ensure_ascii=False)


async def test_an_out_of_scope_case_answers_exactly_like_a_missing_one(apps):
    case_id = await new_case(apps, "630103")  # 城中区
    missing = "LC20260101999999"
    for service, path in (("supervision", "/api/v1/cases/{}"), ("intake", "/api/v1/intake/cases/{}")):
        other = auth("supervisor", "QH-XN-CD") if service == "supervision" else auth("clerk", "QH-XN-CD")
        seen = await apps[service].get(path.format(case_id), headers=other)
        absent = await apps[service].get(path.format(missing), headers=other)
        assert seen.status_code == absent.status_code == 404
        assert seen.json()["type"] == absent.json()["type"]
        assert seen.json()["detail"].replace(case_id, "X") == absent.json()["detail"].replace(missing, "X")
    # the role is refused before anything is looked up: the same 403 whether the case exists or not
    existing = await apps["intake"].get(f"/api/v1/intake/cases/{case_id}", headers=auth("mediator", "QH-XN-CZ"))
    nothing = await apps["intake"].get(f"/api/v1/intake/cases/{missing}", headers=auth("mediator", "QH-XN-CZ"))
    assert existing.status_code == nothing.status_code == 403 and existing.json() == nothing.json()


async def test_the_audit_trail_follows_the_hierarchy_and_every_read_is_audited_before_it_is_answered(apps):
    sup = apps["supervision"]
    case_id = await new_case(apps, "630102")
    await wait_until(lambda: _ok(sup.get(f"/api/v1/cases/{case_id}", headers=auth("supervisor", "QH"))),
                     what="the case in supervision")
    await sup.get("/api/v1/cases", params={"ref": case_id}, headers=auth("supervisor", "QH-XN", subject="finder"))
    await sup.get("/api/v1/alerts", headers=auth("supervisor", "QH-XN", subject="lister"))
    rows = {r["actor"]: r for r in await sup.runtime.pool.fetch(
        "SELECT actor, action, detail, case_id FROM audit_log WHERE actor IN ('finder', 'lister')")}
    assert "finder" in rows and "lister" in rows and rows["finder"]["detail"]["query"].startswith("ref=")
    # a province's supervisor reads their province's trail, never the other province's
    sc = (await sup.get("/api/v1/audit/supervision", headers=auth("supervisor", "SC"))).json()["entries"]
    assert sc == [] or all(e["actor"] in {"supervisor-SC"} for e in sc)
    qh = (await sup.get("/api/v1/audit/supervision", headers=auth("supervisor", "QH"))).json()["entries"]
    assert {"finder", "lister"} <= {e["actor"] for e in qh}
    assert (await sup.get("/api/v1/audit/supervision", headers=auth("clerk", "QH"))).status_code == 403

    # no audit row, no answer: the read is withheld when its audit cannot be written
    await sup.runtime.pool.execute("ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    try:
        r = await sup.get(f"/api/v1/cases/{case_id}", headers=auth("supervisor", "QH"))
    finally:
        await sup.runtime.pool.execute("ALTER TABLE audit_log DROP CONSTRAINT refuse_all")
    assert r.status_code == 503 and case_id not in r.text


async def test_a_writes_audit_row_commits_with_it_and_no_row_means_no_write(apps):
    """A registration writes its audit row in its own transaction (one row, the answer's status and the case it
    made or joined); a refused one leaves only the edge's row with the refusal; and where the row cannot be
    written, nothing is registered and nothing answered."""
    intake = apps["intake"]
    me = auth("clerk", "QH", subject="audited-clerk")
    n = next(_n)
    key = {"Idempotency-Key": f"audited-{n:08d}"}
    first = await intake.post("/api/v1/cases", json=case_body("630102", n=n), headers={**me, **key})
    joined = await intake.post("/api/v1/cases", json=case_body("630102", n=n), headers=me)  # same worker, employer
    reused = await intake.post("/api/v1/cases", json=case_body("630102", n=n + 500_000), headers={**me, **key})
    assert (first.status_code, joined.status_code, reused.status_code) == (201, 200, 422), joined.text
    assert joined.json()["linked"] and joined.json()["case_id"] == first.json()["case_id"]
    rows = [(r["status"], r["case_id"], r["action"]) for r in await intake.runtime.pool.fetch(
        "SELECT status, case_id, action FROM audit_log WHERE actor = 'audited-clerk' ORDER BY id")]
    assert rows == [(201, first.json()["case_id"], "write"), (200, first.json()["case_id"], "write"),
                    (422, None, "write")]

    await intake.runtime.pool.execute("ALTER TABLE audit_log ADD CONSTRAINT refuse_all CHECK (false) NOT VALID")
    try:
        lost = await intake.post("/api/v1/cases", json=case_body("630102", n=n + 1), headers=me)
    finally:
        await intake.runtime.pool.execute("ALTER TABLE audit_log DROP CONSTRAINT refuse_all")
    assert lost.status_code == 503 and "LC" not in lost.text
    assert await intake.runtime.pool.fetchval("SELECT count(*) FROM cases WHERE employer_name = $1",
                                              f"权限公司{n + 1}") == 0


async def _ok(response_coro) -> bool:
    return (await response_coro).status_code == 200


async def test_the_client_address_is_believed_only_from_the_console_or_a_configured_proxy(apps):
    sup = apps["supervision"]
    await sup.get("/api/v1/alerts", headers=auth("supervisor", "QH", subject="spoofer") |
                  {"x-forwarded-for": "203.0.113.9"})
    await sup.get("/api/v1/alerts", headers=auth("supervisor", "QH", subject="forger") |
                  {CLIENT_HEADER: "198.51.100.7|" + "0" * 32})
    await sup.get("/api/v1/alerts", headers=auth("supervisor", "QH", subject="proxied") |
                  {CLIENT_HEADER: client_statement("192.0.2.44")})
    got = {r["actor"]: r["client"] for r in await sup.runtime.pool.fetch(
        "SELECT actor, client FROM audit_log WHERE actor IN ('spoofer', 'forger', 'proxied')")}
    assert got["spoofer"] != "203.0.113.9" and got["forger"] != "198.51.100.7" and got["proxied"] == "192.0.2.44"


# --- identity ----------------------------------------------------------------------------------------------


async def test_an_account_named_system_has_no_privilege(apps):
    """Privilege used to be granted to the username ``system`` (unmasked data, the whole audit log)."""
    sup = apps["supervision"]
    case_id = await new_case(apps, "630102")
    await wait_until(lambda: _ok(sup.get(f"/api/v1/cases/{case_id}", headers=auth("supervisor", "QH"))),
                     what="projection")
    await sup.get("/api/v1/alerts", headers=auth("supervisor", "QH-XN", subject="xn-reader"))
    system = auth("supervisor", "QH-XN-CD", subject="system")
    entries = (await sup.get("/api/v1/audit/supervision", headers=system)).json()["entries"]
    assert "xn-reader" not in {e["actor"] for e in entries}  # the city above it is not its to read
    other = await new_case(apps, "630104")  # 城西区: outside its unit
    await wait_until(lambda: _ok(sup.get(f"/api/v1/cases/{other}", headers=auth("supervisor", "QH"))),
                     what="projection")
    assert (await sup.get(f"/api/v1/cases/{other}", headers=system)).status_code == 404
    clerk = auth("clerk", "QH", subject="system")
    r = await apps["intake"].get(f"/api/v1/intake/cases/{case_id}", headers=clerk)
    assert r.status_code == 200 and (await sup.get("/api/v1/audit/supervision", headers=clerk)).status_code == 403


async def test_who_acts_is_the_logged_in_person_never_a_name_in_the_body(apps):
    med = apps["mediation"]
    case_id = await new_case(apps, "630102")

    async def offered() -> dict | None:
        r = await med.get(f"/api/v1/mediation/cases/{case_id}", headers=auth("supervisor", "QH"))
        return r.json() if r.status_code == 200 and r.json()["mediator_id"] else None

    case = await wait_until(offered, what="the case offered to a mediator")
    mediator = case["mediator_id"]
    other = "M-CD-02" if mediator != "M-CD-02" else "M-CD-01"
    impostor = auth("mediator", "QH-XN-CD", subject="impostor", mediator_id=other, name="冒名者")
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={"mediator_id": mediator}, headers=impostor)
    assert r.status_code in (403, 409)
    me = auth("mediator", "QH-XN-CD", subject="real", mediator_id=mediator, name="真实调解员")
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={}, headers=me)
    assert r.status_code == 200, r.text
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/sessions", headers=me, json={
        "scheduled_at": clock.now_iso(days=1), "location": "调解室", "actor": "随便写的名字"})
    assert r.status_code == 201
    log = (await med.get(f"/api/v1/mediation/cases/{case_id}", headers=me)).json()["log"]
    assert log[-1]["actor"] == "真实调解员" and all(e["actor"] != "随便写的名字" for e in log)
    # each write has one audit row, written with it, with the status its route answers (201 for a new session)
    rows = [(r["method"], r["path"].rsplit("/", 1)[-1], r["status"], r["case_id"]) for r in await med.runtime.pool.fetch(
        "SELECT method, path, status, case_id FROM audit_log WHERE actor = 'real' ORDER BY id")]
    assert rows == [("POST", "accept", 200, case_id), ("POST", "sessions", 201, case_id),
                    ("GET", case_id, 200, case_id)]
    together = await med.runtime.pool.fetchval(
        "SELECT a.xmin::text = s.xmin::text FROM audit_log a, sessions s WHERE a.actor = 'real' "
        "AND a.path LIKE '%/sessions' AND s.case_id = $1", case_id)
    assert together  # the session and its audit row: one transaction
    # another mediator of the same unit cannot act on a case that is not theirs
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/withdraw", json={"reason": "冒名撤回"}, headers=impostor)
    assert r.status_code == 403


# --- partners on Kafka ---------------------------------------------------------------------------------------


async def test_partner_events_on_kafka_must_be_signed_by_their_own_court(apps, kafka_bootstrap):
    year = clock.today().year
    tag = uuid.uuid4().hex[:6]

    def referral(case_no: str, court: str = "QH0103") -> bytes:
        n = next(_n)
        return json.dumps({
            "specversion": "1.0", "id": str(uuid.uuid4()), "source": f"court/{court}", "type": "court.case_referred",
            "time": clock.now().isoformat(), "subject": case_no, "data": {
                "court_code": court, "court_case_no": case_no, "referral_kind": "pre_filing", "region_code": "630103",
                "referred_at": clock.now().isoformat(), "summary": "签名测试",
                "workers": [{"name": f"签名{n}", "id_number": make_id_number("630103", date(1980, 1, 1), 8000 + n),
                             "phone": "13800001111"}],
                "employer": {"name": f"签名公司{n}", "uscc": make_uscc("630103", 8800 + n)},
                "claims": [{"type": "wage_arrears", "amount_cny": 100}]}}, ensure_ascii=False).encode()

    signed_no, unsigned_no, forged_no, foreign_no = (f"({year})青0103民诉前调{tag}{i}号" for i in range(4))
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        good = referral(signed_no)
        await producer.send_and_wait("court.events", good, key=signed_no.encode(),
                                     headers=identity.kafka_signature(good, identity.COURT))
        await producer.send_and_wait("court.events", referral(unsigned_no), key=unsigned_no.encode())
        forged = referral(forged_no)
        await producer.send_and_wait("court.events", forged, key=forged_no.encode(),
                                     headers=identity.kafka_signature(forged + b" ", identity.COURT))
        foreign = referral(foreign_no)  # QH0103's case number, signed by another court
        await producer.send_and_wait("court.events", foreign, key=foreign_no.encode(),
                                     headers=identity.kafka_signature(foreign, identity.OTHER_COURT))
    finally:
        await producer.stop()

    async def case(ref: str) -> list:
        return (await apps["intake"].get("/api/v1/intake/cases", params={"ref": ref},
                                         headers=auth("clerk", "QH"))).json()["cases"]

    await wait_until(lambda: case(signed_no), what="the signed referral to become a case")

    async def refused() -> dict | None:
        found = {letter.key.decode(): letter.reason for letter in
                 await dlq.list_dead_letters(kafka_bootstrap, ["court.events.dlq"])
                 if letter.key and letter.header("x-dlq-service") == "intake"}
        wanted = {unsigned_no, forged_no, foreign_no}
        return found if wanted <= set(found) else None

    reasons = await wait_until(refused, what="the three refused referrals dead-lettered by intake")
    assert reasons[unsigned_no].startswith("unauthenticated: unsigned")
    assert reasons[forged_no].startswith("unauthenticated: bad_signature")
    assert reasons[foreign_no].startswith("out_of_scope")
    for ref in (unsigned_no, forged_no, foreign_no):
        assert await case(ref) == []
    assert await apps["intake"].runtime.pool.fetchval("SELECT count(*) FROM cases WHERE court_case_no = $1",
                                                      signed_no) == 1


async def test_hostile_signature_headers_on_the_ingress_are_refused_not_crashed(apps):
    body = b'{"specversion": "1.0"}'
    ct = {"content-type": "application/cloudevents+json"}
    bad = [
        {"x-laborcase-key-id": "court-QH0103", "x-laborcase-timestamp": "²", "x-laborcase-signature": "0" * 64},
        {"x-laborcase-key-id": "court-QH0103", "x-laborcase-timestamp": "9" * 5000, "x-laborcase-signature": "0" * 64},
        {"x-laborcase-key-id": "court-QH0103", "x-laborcase-timestamp": str(int(time.time())),
         "x-laborcase-signature": "签名" * 32},
        {"x-laborcase-key-id": "../../etc/passwd", "x-laborcase-timestamp": "1", "x-laborcase-signature": "x"},
    ]
    for headers in bad:
        r = await apps["intake"].post("/api/v1/events", content=body,
                                      headers={**ct, **{k: v.encode() for k, v in headers.items()}})
        assert r.status_code == 401, (headers, r.status_code, r.text)


# --- sessions ------------------------------------------------------------------------------------------------


@pytest.fixture
def people(tmp_path, monkeypatch) -> dict[str, str]:
    """An accounts file with real people, for the tests of logging in and out (the session's has none)."""
    passwords = {"clerk-a": "pw-clerk-a", "sup-a": "pw-sup-a"}
    users = [{"username": "clerk-a", "password_hash": hash_password(passwords["clerk-a"]), "role": "clerk",
              "org_unit": "QH-XN", "name": "受理员甲"},
             {"username": "sup-a", "password_hash": hash_password(passwords["sup-a"]), "role": "supervisor",
              "org_unit": "QH", "name": "督办甲"}]
    path = identity.write_accounts(tmp_path / "people.json", users)
    monkeypatch.setenv("LABORCASE_ACCOUNTS_FILE", str(path))
    return passwords | {"_path": str(path)}


async def login(apps, user: str, password: str, client: str = "192.0.2.10") -> httpx.Response:
    apps["intake"].cookies.clear()  # a fresh browser: no session from an earlier test
    return await apps["intake"].post("/api/v1/auth/login", json={"username": user, "password": password},
                                     headers={CLIENT_HEADER: client_statement(client)})


async def test_logout_revokes_the_token_in_every_service(apps, people):
    r = await login(apps, "sup-a", people["sup-a"])
    assert r.status_code == 200, r.text
    bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
    assert (await apps["supervision"].get("/api/v1/alerts", headers=bearer)).status_code == 200
    assert (await apps["intake"].post("/api/v1/auth/logout", headers=bearer)).status_code == 200
    assert (await apps["intake"].get("/api/v1/intake/cases", headers=bearer)).status_code == 401  # at once here
    started = time.monotonic()
    await wait_until(lambda: _status(apps["supervision"].get("/api/v1/alerts", headers=bearer), 401), timeout=10,
                     what="supervision to refuse the revoked token")
    await wait_until(lambda: _status(apps["mediation"].get("/api/v1/mediation/worklist", headers=bearer), 401),
                     timeout=10, what="mediation to refuse the revoked token")
    print(f"\nrevoked everywhere {time.monotonic() - started:.2f} s after logout")


async def _status(response_coro, code: int) -> bool:
    return (await response_coro).status_code == code


async def test_a_changed_role_or_unit_in_the_accounts_file_ends_the_session(apps, people):
    r = await login(apps, "clerk-a", people["clerk-a"])
    bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
    assert (await apps["intake"].get("/api/v1/intake/cases", headers=bearer)).status_code == 200
    move_to_another_unit(Path(people["_path"]), "clerk-a", "QH-HD")
    r = await apps["intake"].get("/api/v1/intake/cases", headers=bearer)
    assert r.status_code == 401 and "变更" in r.json()["detail"]


def move_to_another_unit(path: Path, user: str, unit: str) -> None:
    raw = json.loads(path.read_text())
    next(u for u in raw["users"] if u["username"] == user)["org_unit"] = unit
    time.sleep(0.01)  # a new modification time
    path.write_text(json.dumps(raw, ensure_ascii=False))


async def test_guessing_a_password_is_slowed_then_locked_and_audited(apps, people):
    started = time.monotonic()
    for _ in range(5):
        r = await login(apps, "clerk-a", "wrong", client="192.0.2.77")
        assert r.status_code == 401
    assert time.monotonic() - started >= 0.25 + 0.5 + 1 + 2  # the delay grows
    locked = await login(apps, "clerk-a", people["clerk-a"], client="192.0.2.77")
    assert locked.status_code == 429 and "分钟后再试" in locked.json()["detail"] and locked.headers["retry-after"]
    actions = [r["action"] for r in await apps["intake"].runtime.pool.fetch(
        "SELECT action FROM audit_log WHERE actor = 'clerk-a' AND client = '192.0.2.77' ORDER BY id")]
    assert actions.count("login_failed") == 5 and actions[-1] == "login_locked"
    await apps["intake"].runtime.pool.execute("DELETE FROM login_throttle")


async def test_a_supervisors_stream_ends_when_the_session_is_revoked(apps, people, embedded_pg):
    import uvicorn

    from services.process import secured_app
    from services.stack.processes import free_port

    runtime = apps["supervision"].runtime
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(secured_app(runtime, SUPERVISION.routers(runtime)), host="127.0.0.1",
                                           port=port, log_config=None, lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.ensure_future(server.serve())
    try:
        r = await login(apps, "sup-a", people["sup-a"])
        bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            async with http.stream("GET", "/api/v1/stream", headers=bearer) as stream:
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith("retry:")
                await apps["intake"].post("/api/v1/auth/logout", headers=bearer)
                ended = False
                deadline = time.monotonic() + 20
                async for line in lines:
                    if line.startswith("event: end"):
                        ended = True
                        break
                    assert time.monotonic() < deadline
                assert ended
    finally:
        server.should_exit = True
        await task


# --- abuse at the edge ---------------------------------------------------------------------------------------


def test_login_redirects_stay_on_this_site():
    for target in ("//evil.example/x", "/\\evil.example/x", "https://evil.example", "/\\\\x", "/ok\\..",
                   "javascript:alert(1)", "/path\r\nLocation: //evil", ""):
        assert safe_next(target) == "/", target
    assert safe_next("/mediation/cases/LC1?x=1") == "/mediation/cases/LC1?x=1"


def test_secret_files_are_never_readable_by_others(tmp_path):
    import os
    import stat

    path = tmp_path / "secret.key"
    os.umask(0o022)
    write_private(path, "s3cret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_half_sent_requests_are_cut_off(tmp_path):
    """Headers that never finish are closed at the header deadline; a body that never ends gets a 408."""
    from services.backbone import server as http_server
    from services.backbone.http import service_app
    from services.security.guard import EdgeMiddleware
    from services.stack.processes import free_port

    async def ready() -> tuple[bool, dict]:
        return True, {}

    echo = APIRouter()

    @echo.post("/api/v1/echo")
    async def read_all(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    app = EdgeMiddleware(service_app("edge-test", readiness=ready, asyncapi=dict, routers=[echo]),
                         service="edge-test", required=False, body_seconds=1.0)
    port = free_port()
    server = http_server.Server(http_server.config(app, host="127.0.0.1", port=port, header_seconds=1.0))
    task = asyncio.ensure_future(server.serve())
    try:
        await asyncio.sleep(0.5)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed by the server
        assert time.monotonic() - started < 5
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(200), 10)
        assert b" 408 " in answer.split(b"\r\n", 1)[0]
        writer.close()
    finally:
        server.should_exit = True
        await task


async def test_the_cookie_is_secure_when_configured(kafka_bootstrap, embedded_pg, people):
    async with running(INTAKE, kafka_bootstrap, embedded_pg.admin_dsn(), auth_required=True,
                       cookie_secure=True) as intake:
        r = await intake.post("/api/v1/auth/login", json={"username": "sup-a", "password": people["sup-a"]})
        cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie


# --- the authorization property ------------------------------------------------------------------------------

READS = {  # every read route, stream and export of case data, by service ({case_id} filled with each case)
    "intake": ["/api/v1/intake/cases", "/api/v1/intake/cases/{case_id}"],
    "mediation": ["/api/v1/mediation/worklist", "/api/v1/mediation/cases/{case_id}", "/api/v1/mediation/mediators",
                  "/mediation", "/mediation/cases/{case_id}"],
    "legal_aid": ["/api/v1/legal-aid/applications", "/api/v1/legal-aid/cases/{case_id}", "/api/v1/legal-aid/lawyers",
                  "/legal-aid", "/legal-aid/cases/{case_id}"],
    "supervision": ["/api/v1/cases", "/api/v1/cases/{case_id}", "/api/v1/alerts?state=all", "/api/v1/forecast",
                    "/api/v1/stats?format=csv", "/supervision", "/supervision/cases/{case_id}"],
}
UNITS = [None, "QH", "QH-XN", "QH-XN-CD", "QH-XN-CZ", "QH-HD", "SC", "SC-CD", "SC-BJ"]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def spread(apps) -> list[dict[str, Any]]:
    """Cases in units across both provinces, each with its worker's personal data, known to every service."""
    from services.hierarchy.orgunits import default_hierarchy

    made = []
    for region, worker_area, clerk in (("630102", None, "QH"), ("630103", None, "QH"), ("630202", None, "QH"),
                                       ("510107", None, "SC"), ("110105", "511502", "SC")):
        n = next(_n)
        body = case_body(region, n=n, worker_area=worker_area)
        r = await apps["intake"].post("/api/v1/cases", json=body, headers=auth("clerk", clerk))
        assert r.status_code == 201, r.text
        made.append({"case_id": r.json()["case_id"], "unit": r.json()["org_unit"], "partner": None,
                     "pii": [body["workers"][0]["id_number"], body["workers"][0]["phone"]]})
    for c in made:
        await wait_until(lambda c=c: _ok(apps["supervision"].get(f"/api/v1/cases/{c['case_id']}",
                                                                  headers=auth("supervisor", default_hierarchy().root(
                                                                      c["unit"]).code))), what="projection")
    return made


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None, derandomize=True)
@given(role=st.sampled_from(["clerk", "mediator", "legal_aid_officer", "supervisor", "partner", "operator"]),
       unit=st.sampled_from(UNITS), court=st.sampled_from(["QH0103", "QH0104"]))
async def test_no_answer_carries_a_case_unit_or_personal_data_outside_the_callers_scope(apps, spread, role, unit,
                                                                                      court):
    """For random (role, unit) and every read route, page and export: nothing of a case outside the caller's scope is
    in the answer — not its id, not its unit, not its worker's ID or phone — and every answer left an audit row."""
    from services.hierarchy.orgunits import default_hierarchy
    from services.security.policy import can

    hierarchy = default_hierarchy()
    p = Principal(f"prop-{uuid.uuid4().hex[:8]}", role, unit,  # type: ignore[arg-type]
                  court if role == "partner" else None,
                  # a mediator account is a mediator of its own unit (as the accounts file says)
                  mediator_id="M-CD-01" if role == "mediator" and unit == "QH-XN-CD" else None)
    headers = {"authorization": f"Bearer {tokens.issue(p)}", "accept": "text/html,application/json"}
    hidden = [c for c in spread if not can(p, "read", unit=c["unit"], hierarchy=hierarchy, partner_code=c["partner"])]
    answered = 0
    for service, paths in READS.items():
        for template in paths:
            for c in spread if "{case_id}" in template else [None]:
                path = template.format(case_id=c["case_id"]) if c else template
                r = await apps[service].get(path, headers=headers)
                assert r.status_code < 500, f"{path}: {r.status_code}"
                answered += 1
                for h in hidden:
                    # (a refusal may repeat the case number the caller asked for: nothing it did not know)
                    leaked = [v for v in (h["case_id"], *h["pii"]) if v in r.text and v not in path]
                    assert not leaked, f"{role}@{unit} {path} → {r.status_code} carries {leaked}"
                if r.headers.get("content-type", "").startswith("application/json") and r.status_code == 200:
                    for held in _units_in(r.json()):
                        # (a court sees the unit holding a case it referred: its scope is its cases, not units)
                        assert role in ("operator", "partner") or can(p, "read", unit=held, hierarchy=hierarchy), \
                            (path, held)
    assert await _audited(apps, p.subject) == answered  # every answer, granted or refused, left its audit row
    shown = [c for c in spread if c not in hidden]
    if role == "supervisor" and shown:  # not vacuous: what is in scope is answered
        r = await apps["supervision"].get(f"/api/v1/cases/{shown[0]['case_id']}", headers=headers)
        assert r.status_code == 200 and shown[0]["pii"][0] not in r.text  # masked for a supervisor


def _units_in(doc: Any) -> list[str]:
    """Every unit a JSON answer names as holding something."""
    out: list[str] = []
    if isinstance(doc, dict):
        for k, v in doc.items():
            if k in ("org_unit", "escalated_to") and isinstance(v, str):
                out.append(v)
            else:
                out += _units_in(v)
    elif isinstance(doc, list):
        for v in doc:
            out += _units_in(v)
    return out


async def _audited(apps, subject: str) -> int:
    total = 0
    for client in apps.values():
        total += await client.runtime.pool.fetchval("SELECT count(*) FROM audit_log WHERE actor = $1", subject)
    return total


async def test_a_court_reads_what_it_needs_of_the_case_it_referred(apps, kafka_bootstrap):
    """Not the union's internal record: no deadline bookkeeping, legal-aid reasons, follow-up comments, alerts, or
    the workers' personal data (§6 data minimisation, as the feedback events already do)."""
    case_no = f"({clock.today().year})青0103民诉前调{uuid.uuid4().hex[:6]}号"
    n = next(_n)
    value = json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": "court.case_referred",
        "time": clock.now().isoformat(), "subject": case_no, "data": {
            "court_code": "QH0103", "court_case_no": case_no, "referral_kind": "pre_filing", "region_code": "630103",
            "referred_at": clock.now().isoformat(), "summary": "法院读取测试",
            "workers": [{"name": f"法院读{n}", "id_number": make_id_number("630103", date(1982, 2, 2), 8600 + n),
                         "phone": f"1370000{n:04d}"}],
            "employer": {"name": f"法院读公司{n}", "uscc": make_uscc("630103", 8700 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 100}]}}, ensure_ascii=False).encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("court.events", value, key=case_no.encode(),
                                     headers=identity.kafka_signature(value, identity.COURT))
    finally:
        await producer.stop()
    court = auth("partner", None, subject="court-reader", partner="QH0103")

    async def found() -> dict | None:
        cases = (await apps["supervision"].get("/api/v1/cases", params={"ref": case_no}, headers=court)).json()
        if not cases["cases"]:
            return None
        full = (await apps["supervision"].get(f"/api/v1/cases/{cases['cases'][0]['case_id']}",
                                              headers=auth("supervisor", "QH"))).json()
        return full if any(t["type"].startswith("deadline.") for t in full["timeline"]) else None

    full = await wait_until(found, what="the referral in supervision, with its internal timeline")
    seen = (await apps["supervision"].get(f"/api/v1/cases/{full['case_id']}", headers=court)).json()
    assert seen["case_id"] == full["case_id"] and seen["timeline"]
    assert not [t for t in seen["timeline"] if t["type"].startswith(("deadline.", "legalaid.", "followup.",
                                                                      "supervision.", "intake.case_triaged"))]
    assert not {"alerts", "worker_count", "satisfaction", "legal_aid", "mediator_id"} & set(seen)
    assert all(set(t) == {"type", "at", "summary"} for t in seen["timeline"])
    other_court = auth("partner", None, subject="other-court", partner="QH0104")
    assert (await apps["supervision"].get(f"/api/v1/cases/{full['case_id']}", headers=other_court)).status_code == 404


async def test_a_service_connects_with_a_role_that_cannot_touch_its_audit_trail(kafka_bootstrap):
    """One role per service database with least privilege: the tables belong to a role the service does not use,
    so it can append to its audit log but never change a row, drop its trigger or alter a table."""
    import asyncpg

    from tests.conftest import SYSTEM_PG

    try:  # roles need a server we may create roles on: the configured one (the embedded one is per-run too)
        admin = await asyncpg.connect(SYSTEM_PG, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"no PostgreSQL at {SYSTEM_PG} ({type(exc).__name__}); set LABORCASE_TEST_SYSTEM_PG_DSN")
    suffix = uuid.uuid4().hex[:8]
    owner, app, db = f"lc_owner_{suffix}", f"lc_app_{suffix}", f"lc_roles_{suffix}"
    base = SYSTEM_PG.rsplit("@", 1)[1].rsplit("/", 1)[0]
    try:
        await admin.execute(f"CREATE ROLE {owner} LOGIN PASSWORD 'owner-pw'")
        await admin.execute(f"CREATE ROLE {app} LOGIN PASSWORD 'app-pw'")
        await admin.execute(f"CREATE DATABASE {db} OWNER {owner}")
        await admin.execute(f"REVOKE ALL ON DATABASE {db} FROM PUBLIC")
        await admin.execute(f"GRANT CONNECT ON DATABASE {db} TO {app}")
        from services.process import runtime_for
        from tests.conftest import runtime_settings

        runtime = runtime_for(MEDIATION, runtime_settings(kafka_bootstrap, mediation_migration_dsn=(
            f"postgresql://{owner}:owner-pw@{base}/{db}")), dsn=f"postgresql://{app}:app-pw@{base}/{db}")
        await runtime.start()
        try:
            pool = runtime.pool
            assert await pool.fetchval("SELECT current_user") == app
            await pool.execute("INSERT INTO audit_log (service, actor, role, action, method, path, status) "
                               "VALUES ('mediation', 'a', 'clerk', 'read', 'GET', '/', 200)")
            for statement in ("DELETE FROM audit_log", "UPDATE audit_log SET actor = 'b'", "TRUNCATE audit_log",
                              "DROP TRIGGER audit_log_append_only ON audit_log", "ALTER TABLE audit_log DROP COLUMN actor",
                              "DROP TABLE mediation_cases", "DELETE FROM schema_migrations"):
                with pytest.raises(asyncpg.exceptions.InsufficientPrivilegeError):
                    await pool.execute(statement)
            assert await pool.fetchval("SELECT count(*) FROM mediators") > 0  # the service's own work goes on
        finally:
            await runtime.stop()
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {app}")
        await admin.execute(f"DROP ROLE IF EXISTS {owner}")
        await admin.close()
