import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.backbone.http import field_path, validation_problem, zh_reason
from services.backbone.logs import mask_pii
from services.console.routing import owner_of


def test_field_paths_and_chinese_reasons():
    assert field_path(("body", "workers", 0, "id_number")) == "workers[0].id_number"
    assert zh_reason({"type": "missing"}) == "缺少必填字段"
    assert zh_reason({"type": "string_too_long", "ctx": {"max_length": 50}}) == "长度不能超过50个字符"
    problem = validation_problem([{"type": "missing", "loc": ("body", "employer", "uscc")}])
    assert problem.status == 422 and problem.errors == [{"field": "employer.uscc", "reason": "缺少必填字段"}]


def test_pii_is_masked_in_logs():
    line = "worker 630102199001020019 phone 13900000001 landline 0971-6123456"
    masked = mask_pii(line)
    assert "630102199001020019" not in masked and "13900000001" not in masked and "6123456" not in masked
    assert "630102********0019" in masked and "139****0001" in masked


@pytest.mark.parametrize(("alone", "kept"), [("630102199001020019", "630102********0019"),
                                            ("63010219900102001X", "630102********001X"),
                                            ("13900000001", "139****0001"), ("010-1234567", "010-****4567"),
                                            ("0971-6123456", "0971-****3456"), ("09716123456", "0971****3456")])
def test_each_number_is_masked_alone_in_a_line(alone: str, kept: str):
    """The shortest form of each number still has the run of seven digits the fast path looks for."""
    assert mask_pii(f"电话{alone}。") == f"电话{kept}。"
    assert mask_pii("case LC-2026-000123 at 2026-12-05T08:45:09 took 123456 us") == \
        "case LC-2026-000123 at 2026-12-05T08:45:09 took 123456 us"


def test_public_api_routes_to_owning_service():
    assert owner_of("POST", "/api/v1/cases") == "intake"
    assert owner_of("POST", "/api/v1/events") == "intake"
    assert owner_of("GET", "/api/v1/cases/abc") == "supervision"
    assert owner_of("GET", "/api/v1/alerts") == "supervision"
    assert owner_of("DELETE", "/api/v1/cases/abc") is None


def _otel_trace_id(header):
    """What OpenTelemetry's own propagator makes of a traceparent header (the reference)."""
    from opentelemetry.trace import get_current_span
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = get_current_span(TraceContextTextMapPropagator().extract({"traceparent": header})).get_span_context()
    return context.trace_id if context.is_valid else None


_VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_traceparent_is_read_as_opentelemetry_reads_it():
    from services.backbone import tracing

    cases = [None, "", _VALID, " " + _VALID + "\t", _VALID + "\n", _VALID.upper(), _VALID + "-extra",
             "01" + _VALID[2:] + "-extra", "ff" + _VALID[2:], "00-" + "0" * 32 + _VALID[35:],
             _VALID[:36] + "0" * 16 + "-01", _VALID[:-1], "00-xyz", _VALID + " " * 600, "—" * 10, _VALID + "-"]
    for header in cases:
        assert tracing.parent_trace_id(header) == (_otel_trace_id(header) if header else None), header
    child = tracing.child_of(_VALID)
    assert child.startswith(_VALID[:36]) and child.endswith("-01") and child != _VALID
    assert _otel_trace_id(child) == int(_VALID[3:35], 16)
    fresh = tracing.child_of("garbage")
    assert _otel_trace_id(fresh) is not None and fresh[3:35] != _VALID[3:35]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=80), st.builds(
    lambda v, t, s, f, rest: f"{v}-{t}-{s}-{f}{rest}",
    st.sampled_from(["00", "01", "fe", "ff", "0g"]), st.text("0123456789abcdef", min_size=31, max_size=33),
    st.text("0123456789abcdef", min_size=15, max_size=17), st.sampled_from(["01", "00", "zz"]),
    st.sampled_from(["", "-x", " ", "\n", "-"]))))
def test_any_traceparent_gets_the_same_answer_as_from_opentelemetry(header):
    from services.backbone import tracing

    assert tracing.parent_trace_id(header) == (_otel_trace_id(header) if header else None)
