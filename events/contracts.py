"""Generate, check and guard the published contracts in ``contracts/``.

    python -m events.contracts          # check: exit 1 when models and committed contracts differ
    python -m events.contracts --write  # regenerate (refuses a breaking change without a new version)

A published version of an event never changes incompatibly: adding an optional field is allowed,
anything a consumer of the old version or a replay of old events could trip over is not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from events.catalog import (
    CONSUMES,
    EVENTS,
    PARTNER_TOPICS,
    PUBLISHES,
    SERVICES,
    TOPICS,
    EventSpec,
    dead_letter_topic,
)
from events.envelope import CloudEvent

ROOT = Path(__file__).resolve().parent.parent / "contracts"
_IGNORED = {"description", "title", "examples", "default", "$id"}


def data_schema(spec: EventSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": spec.dataschema, **schema}


def envelope_schema() -> dict[str, Any]:
    schema = CloudEvent.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:laborcase:contract:cloudevent",
            **schema}


#: How a partner proves it sent a record to its topic: the same key and signature as the HTTP ingress.
PARTNER_SIGNATURE: dict[str, Any] = {
    "type": "object",
    "description": (
        "Every record a court or bureau writes to court.events or bureau.events is signed with the organisation's "
        "own key (the one it uses for POST /api/v1/events), in Kafka record headers: "
        "x-laborcase-signature = lowercase hex HMAC-SHA256(secret, \"<x-laborcase-timestamp>.\" + record value), "
        "where the value is the structured-mode CloudEvent (JSON) exactly as written. A court may send only court "
        "events, for its own court_code and for cases it referred; a bureau likewise. Unsigned, forged or "
        "out-of-scope records are dead-lettered with the reason. Binary mode (ce_* headers) is not accepted on "
        "partner topics: the signature must cover every attribute."),
    "required": ["x-laborcase-key-id", "x-laborcase-timestamp", "x-laborcase-signature"],
    "properties": {
        "x-laborcase-key-id": {"type": "string", "pattern": "^[0-9A-Za-z._-]{1,64}$",
                               "description": "the organisation's key id, e.g. court-QH0103"},
        "x-laborcase-timestamp": {"type": "string", "pattern": "^[0-9]{1,12}$",
                                  "description": "Unix seconds when the record was signed"},
        "x-laborcase-signature": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "content-type": {"const": "application/cloudevents+json"},
    },
}


def _message_name(event_type: str) -> str:
    return event_type.replace(".", "_")


def asyncapi(service: str) -> dict[str, Any]:
    """One AsyncAPI 3 document per service: what it sends and what it receives."""
    sends = {t: [s for s in EVENTS.values() if t in s.topics] for t in PUBLISHES[service]}
    receives = {t: [s for s in EVENTS.values() if t in s.topics] for t in CONSUMES[service]}
    dlqs = {dead_letter_topic(t): [] for t in CONSUMES[service]}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {"CloudEvent": envelope_schema()}
    for topic, specs in {**sends, **receives, **dlqs}.items():
        chan = topic.replace(".", "_")
        channels[chan] = {
            "address": topic,
            "description": TOPICS[topic].description,
            "bindings": {"kafka": {"partitions": TOPICS[topic].partitions, "bindingVersion": "0.5.0"}},
            "messages": {_message_name(s.type): {"$ref": f"#/components/messages/{_message_name(s.type)}"}
                         for s in specs},
        }
        for s in specs:
            name = _message_name(s.type)
            schemas[name] = data_schema(s)
            messages[name] = {
                "name": s.type,
                "contentType": "application/cloudevents+json",
                "summary": (s.model.__doc__ or "").strip().splitlines()[0] if s.model.__doc__ else s.type,
                "bindings": {"kafka": {"key": {"type": "string", "description": TOPICS[topic].key},
                                       "bindingVersion": "0.5.0"}},
                **({"headers": PARTNER_SIGNATURE} if set(s.topics) & set(PARTNER_TOPICS) else {}),
                "payload": {
                    "allOf": [
                        {"$ref": "#/components/schemas/CloudEvent"},
                        {"type": "object", "properties": {
                            "type": {"const": s.type}, "dataschema": {"const": s.dataschema},
                            "data": {"$ref": f"#/components/schemas/{name}"}}},
                    ]
                },
            }
    for topic in sends:
        chan = topic.replace(".", "_")
        operations[f"send_{chan}"] = {"action": "send", "channel": {"$ref": f"#/channels/{chan}"}}
    for topic in list(receives) + list(dlqs):
        chan = topic.replace(".", "_")
        action = "send" if topic in dlqs else "receive"
        operations[f"{action}_{chan}"] = {"action": action, "channel": {"$ref": f"#/channels/{chan}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": f"laborcase {service}", "version": "1.0.0",
                 "description": f"Events the {service} service sends and receives (CloudEvents 1.0, JSON)."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def generate() -> dict[str, Any]:
    """Every contract file, by path relative to ``contracts/``."""
    files: dict[str, Any] = {"schemas/cloudevent.json": envelope_schema()}
    for spec in EVENTS.values():
        files[f"schemas/{spec.type}.v{spec.version}.json"] = data_schema(spec)
    for service in SERVICES:
        files[f"asyncapi/{service}.json"] = asyncapi(service)
    return files


def dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def breaking_changes(old: Any, new: Any, path: str = "$") -> list[str]:
    """Differences between two schemas that a consumer or a replay of old events would trip over."""
    if isinstance(old, dict) and isinstance(new, dict):
        problems: list[str] = []
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name in sorted(new_required - old_required):
            problems.append(f"{path}: field {name!r} became required")
        for name in sorted(old_required - new_required):
            problems.append(f"{path}: field {name!r} is no longer required")
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for name in sorted(set(old_props) - set(new_props)):
            problems.append(f"{path}: field {name!r} was removed")
        for name in sorted(set(old_props) & set(new_props)):
            problems += breaking_changes(old_props[name], new_props[name], f"{path}.{name}")
        old_defs, new_defs = old.get("$defs", {}), new.get("$defs", {})
        for name in sorted(set(old_defs) & set(new_defs)):  # new definitions serve new optional fields
            problems += breaking_changes(old_defs[name], new_defs[name], f"{path}/$defs/{name}")
        for key in sorted((set(old) | set(new)) - _IGNORED - {"required", "properties", "$defs"}):
            if key not in old or key not in new:
                problems.append(f"{path}: keyword {key!r} {'added' if key in new else 'removed'}")
            else:
                problems += breaking_changes(old[key], new[key], f"{path}/{key}")
        return problems
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: {old!r} changed to {new!r}"]
        pairs = enumerate(zip(old, new, strict=True))
        return [p for i, (a, b) in pairs for p in breaking_changes(a, b, f"{path}[{i}]")]
    return [] if old == new else [f"{path}: {old!r} changed to {new!r}"]


def check(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(stale files, breaking changes) between the models and the committed contracts."""
    stale: list[str] = []
    breaking: list[str] = []
    for rel, doc in generate().items():
        path = root / rel
        if not path.exists():
            stale.append(f"{rel}: missing")
            continue
        committed = json.loads(path.read_text())
        if committed != json.loads(dumps(doc)):
            stale.append(f"{rel}: differs from the models")
            if rel.startswith("schemas/"):
                breaking += [f"{rel} {p}" for p in breaking_changes(committed, json.loads(dumps(doc)))]
    return stale, breaking


def write(root: Path = ROOT) -> list[str]:
    stale, breaking = check(root)
    if breaking:
        raise SystemExit(
            "refusing to overwrite a published contract with a breaking change; "
            "give the event a new version instead:\n  " + "\n  ".join(breaking)
        )
    for rel, doc in generate().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(doc))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="laborcase contracts", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="regenerate contracts/ from the models")
    args = parser.parse_args(argv)
    if args.write:
        changed = write()
        print(f"contracts written ({len(changed)} changed)")
        return 0
    stale, breaking = check()
    for line in breaking:
        print(f"BREAKING {line}")
    for line in stale:
        print(f"STALE {line}")
    if stale:
        print("run: laborcase contracts --write" if not breaking else "add a new event version")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
