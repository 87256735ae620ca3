"""SMS templates as data (services/notification/templates.toml): the provider's template id, the text it approved
with its numbered variables ``{1}``, ``{2}`` …, and what fills each variable."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.notification.domain.quiet import QuietHours

#: what a secret variable (the query code) reads as wherever the message is shown rather than sent
HIDDEN = "******"


class TemplateError(ValueError):
    """A template that cannot be filled (a variable missing): a programming or data error, never silently sent."""


@dataclass(frozen=True)
class Template:
    kind: str
    template_id: str
    text: str
    params: tuple[str, ...]
    secret: tuple[str, ...] = ()

    def values(self, values: Mapping[str, Any]) -> list[str]:
        """The provider's TemplateParamSet: each variable's value, in order."""
        missing = [name for name in self.params if values.get(name) in (None, "")]
        if missing:
            raise TemplateError(f"template {self.kind}: no value for {', '.join(missing)}")
        return [str(values[name]) for name in self.params]

    def render(self, values: Mapping[str, Any], *, hide_secrets: bool = False) -> str:
        """The message as the worker reads it (the provider puts the signature in front)."""
        text = self.text
        for n, (name, value) in enumerate(zip(self.params, self.values(values), strict=True), start=1):
            text = text.replace(f"{{{n}}}", HIDDEN if hide_secrets and name in self.secret else value)
        return text


@dataclass(frozen=True)
class Catalog:
    sign_name: str
    quiet: QuietHours
    templates: dict[str, Template]

    def __getitem__(self, kind: str) -> Template:
        return self.templates[kind]

    @classmethod
    def load(cls, path: Path) -> Catalog:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        templates = {}
        for kind, t in raw["templates"].items():
            template = Template(kind=kind, template_id=str(t["template_id"]), text=t["text"],
                                params=tuple(t.get("params", ["case_id"])), secret=tuple(t.get("secret", [])))
            numbered = {f"{{{n}}}" for n in range(1, len(template.params) + 1)}
            if not all(v in template.text for v in numbered) or f"{{{len(template.params) + 1}}}" in template.text:
                raise TemplateError(f"template {kind}: its text and its params do not match")
            templates[kind] = template
        quiet = raw.get("quiet_hours", {})
        return cls(sign_name=raw["sign_name"], quiet=QuietHours.parse(quiet.get("start", "21:00"),
                                                                      quiet.get("end", "08:00")),
                   templates=templates)
