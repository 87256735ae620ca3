"""The dependency picture: events at the bottom, then the calendar and hierarchy (pure), the backbone, security,
the services, and the composition root (services/process.py) on top. No arrow points up, and no service
imports another (they talk through events only)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "mediation", "legal_aid", "followup", "supervision", "notification")

#: what each package may import from this repository (besides itself)
ALLOWED: dict[str, set[str]] = {
    "events": set(),
    "services.calendar": {"events"},
    "services.hierarchy": {"events"},
    "services.backbone": {"events", "services.calendar"},
    "services.security": {"events", "services.calendar", "services.hierarchy", "services.backbone"},
    "services.staffing": {"events", "services.calendar", "services.hierarchy"},
    "services.web": {"events", "services.calendar", "services.hierarchy", "services.backbone", "services.security"},
    # printable documents and the evidence store: shared by the services that own a case's stages
    "services.printing": {"events", "services.calendar", "services.hierarchy", "services.security", "services.web"},
    "services.evidence": {"events", "services.calendar", "services.hierarchy", "services.backbone",
                          "services.security"},
    **{f"services.{s}": {"events", "services.calendar", "services.hierarchy", "services.backbone",
                         "services.security", "services.staffing", "services.web", "services.printing",
                         "services.evidence"} for s in SERVICES},
}


def package_of(module: str) -> str | None:
    if module == "events" or module.startswith("events."):
        return "events"
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "services" and len(parts) > 1 else None


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_arrow_points_up():
    wrong = []
    for package, allowed in ALLOWED.items():
        folder = ROOT.joinpath(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            if path.name == "__main__.py":  # a service's program: the process, assembled by the composition root
                continue
            for module in imports(path):
                target = package_of(module)
                if target is None or target == package:
                    continue
                if target not in allowed:
                    wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_the_check_sees_an_upward_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from services.security.guard import principal\nimport services.process\n")
    assert {package_of(m) for m in imports(probe)} == {"services.security", "services.process"}
