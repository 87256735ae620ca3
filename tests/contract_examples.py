"""A valid example of every catalogued event's data, built from its published JSON Schema (contracts/schemas).

Only the subset of JSON Schema our contracts use; values a pattern alone cannot make valid (checksummed ID
numbers and credit codes) come from the domain's own generators.
"""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from events.catalog import EVENTS
from services.intake.domain.identifiers import make_id_number, make_uscc

SCHEMAS = Path(__file__).resolve().parents[1] / "contracts" / "schemas"
PATTERNS = {
    r"^(1\d{10}|0\d{2,3}-?\d{7,8})$": "13900000001",
    r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$": make_uscc("630102", 1),
    r"^[0-9A-Za-z\-]+$": "QH0103",
    r"^\d{17}[\dX]$": make_id_number("630102", date(1990, 1, 2), 1),
    r"^\d{4}-\d{2}-\d{2}$": "2026-03-02",
    r"^\d{6}$": "630102",
}


def _example(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    if "$ref" in schema:
        return _example(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _example(options[0], defs)
    if "allOf" in schema:
        return _example(schema["allOf"][0], defs)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _example(props[name], defs) for name in props}
    if kind == "array":
        return [_example(schema.get("items", {}), defs) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "string":
        if "pattern" in schema:
            return PATTERNS[schema["pattern"]]
        if schema.get("format") == "date-time":
            return "2026-03-02T09:00:00+08:00"
        if schema.get("format") == "uuid":
            return "6f1c1f4e-8d1b-4a0e-9b1e-3f1d2c4b5a69"
        return "示例" * max(1, (schema.get("minLength") or 1) // 2 + 1)
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        return max(1, int(low) + 1) if kind == "integer" else float(max(1, low + 1))
    if kind == "boolean":
        return True
    return None


@cache
def example(event_type: str) -> dict[str, Any]:
    """Valid data of ``event_type`` (checked against its model by the tests that use it)."""
    schema = json.loads((SCHEMAS / f"{event_type}.v{EVENTS[event_type].version}.json").read_text())
    data = _example(schema, schema.get("$defs", {}))
    if "court_case_no" in data and "arbitration_case_no" in data:  # feedback goes to one partner (a model rule)
        del data["arbitration_case_no"]
    return data
