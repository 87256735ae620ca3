"""Against the real `laborcase up --demo`: a property-based fuzz run of every service's OpenAPI surface
(schemathesis, authenticated) finds no 5xx, and the logs of the run hold no raw ID or phone number."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.stack import laborcase_up

pytestmark = pytest.mark.integration
# who calls each service: the role that reaches furthest into it
CALLERS = {"intake": "clerk", "mediation": "mediator-cd", "legal_aid": "legalaid-xn", "followup": "clerk",
           "supervision": "supervisor-qh"}
EXAMPLES = 20


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with laborcase_up(tmp_path_factory.mktemp("demo") / "home", "--demo") as stack:
        yield stack


@pytest.mark.parametrize("service", list(CALLERS))
def test_fuzzing_the_api_finds_no_server_errors(demo, service):
    base = f"http://127.0.0.1:{demo.ports[service]}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = demo.bearer(CALLERS[service])
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/auth/"):
            continue  # logging in is throttled on purpose (random passwords lock the address): tests/…/test_access.py

        @given(operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):  # type: ignore[no-untyped-def]
            nonlocal calls
            response = case.call(base_url=base, headers=headers, timeout=10)
            calls += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:200]}")

        run()
    print(f"\n{service}: {calls} generated requests")
    assert calls > 0 and not failures, "\n".join(failures[:10])


def test_logs_of_a_demo_run_hold_no_raw_id_or_phone_number(demo):
    import httpx

    # read some cases as a mediator (full PII in the response) so the logs have had every chance to leak
    cases = httpx.get(f"{demo.console}/api/v1/mediation/worklist", headers=demo.bearer("mediator-cd"), timeout=10)
    assert cases.status_code == 200
    for case in cases.json()["cases"][:3]:
        assert httpx.get(f"{demo.console}/api/v1/mediation/cases/{case['case_id']}",
                         headers=demo.bearer("mediator-cd"), timeout=10).status_code == 200
    id_number = re.compile(r"(?<![\d*])\d{17}[\dX](?![\d*])")
    mobile = re.compile(r"(?<![\d*])1[3-9]\d{9}(?![\d*])")
    logs = [*Path(demo.home, "logs").glob("*.log"), *Path(demo.home).glob("*.log")]
    assert logs
    leaks = []
    for path in logs:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if id_number.search(line) or mobile.search(line):
                leaks.append(f"{path.name}:{n}: {line[:160]}")
    assert not leaks, "\n".join(leaks[:10])
