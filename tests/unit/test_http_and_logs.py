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


def test_public_api_routes_to_owning_service():
    assert owner_of("POST", "/api/v1/cases") == "intake"
    assert owner_of("POST", "/api/v1/events") == "intake"
    assert owner_of("GET", "/api/v1/cases/abc") == "supervision"
    assert owner_of("GET", "/api/v1/alerts") == "supervision"
    assert owner_of("DELETE", "/api/v1/cases/abc") is None
