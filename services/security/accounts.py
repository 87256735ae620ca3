"""Accounts of people and partner organisations, from a file named by configuration (never in the repo).

    {"users": [{"username": "...", "password_hash": "$argon2id$...", "role": "supervisor", "org_unit": "QH",
                "name": "..."}],
     "partners": [{"key_id": "court-QH0103", "secret": "...", "kind": "court", "code": "QH0103", "name": "..."}]}
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.security.policy import ROLES, Principal
from services.security.tokens import check_password, hash_password


@dataclass(frozen=True)
class Partner:
    key_id: str
    secret: str
    kind: str  # court | bureau
    code: str
    name: str = ""


@dataclass(frozen=True)
class Accounts:
    users: dict[str, dict[str, Any]]
    partners: dict[str, Partner]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Accounts:
        users = {}
        for u in raw.get("users", []):
            if u["role"] not in ROLES:
                raise ValueError(f"unknown role {u['role']!r} for {u['username']}")
            users[u["username"]] = u
        partners = {p["key_id"]: Partner(p["key_id"], p["secret"], p["kind"], p["code"], p.get("name", ""))
                    for p in raw.get("partners", [])}
        return cls(users, partners)

    def login(self, username: str, password: str) -> Principal | None:
        user = self.users.get(username)
        if user is None:
            check_password(_dummy_hash(), password)  # same time whether the user exists or not
            return None
        if not check_password(user["password_hash"], password):
            return None
        return Principal(username, user["role"], user.get("org_unit"), user.get("partner_code"), user.get("name", ""),
                         mediator_id=user.get("mediator_id"))

    def changed(self, p: Principal) -> str | None:
        """Why a token no longer stands for its account (gone, or its role, unit or identity changed), if so."""
        user = self.users.get(p.subject)
        if user is None:
            return "账号已停用，请联系管理员"
        if (user["role"], user.get("org_unit"), user.get("partner_code"), user.get("mediator_id")) != (
                p.role, p.org_unit, p.partner_code, p.mediator_id):
            return "账号的角色或所属单位已变更，请重新登录"
        return None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """Made on the first failed login, not at import: an argon2 hash costs 64 MiB of memory, and every service
    imports this module (the sessions check) though only the login service hashes passwords."""
    return hash_password("not-a-password")


def accounts() -> Accounts:
    """The accounts file as it is now: re-read when it changes (a role or unit changed, a user removed)."""
    path = os.environ.get("LABORCASE_ACCOUNTS_FILE")
    if not path:
        return _EMPTY
    try:
        stat = os.stat(path)
    except OSError:
        return _EMPTY
    return _load(path, stat.st_mtime_ns, stat.st_size)


_EMPTY = Accounts({}, {})


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> Accounts:
    return Accounts.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def write_private(path: Path, text: str) -> None:
    """Write a secret file that is never readable by others, not even for a moment (created 0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)  # an existing file keeps its old mode on O_CREAT


DEMO_USERS = (
    ("clerk", "clerk", "QH", "马丽娟"),
    ("clerk-sc", "clerk", "SC", "杨蓉"),
    ("mediator-cd", "mediator", "QH-XN-CD", "王淑芬"),
    ("mediator-cd2", "mediator", "QH-XN-CD", "祁生福"),
    ("mediator-by", "mediator", "QH-XN-CD-BY", "杨秀梅"),
    ("mediator-cz", "mediator", "QH-XN-CZ", "赵德明"),
    ("mediator-nc", "mediator", "QH-XN-CZ-NC", "刘建国"),
    ("mediator-cx", "mediator", "QH-XN-CX", "张桂英"),
    ("legalaid-xn", "legal_aid_officer", "QH-XN", "韩志刚"),
    ("supervisor-xn", "supervisor", "QH-XN", "李卫东"),
    ("supervisor-qh", "supervisor", "QH", "陈建华"),
    ("operator", "operator", None, "周运维"),
)

#: what each demo account does (README, the demo's printout)
DEMO_DUTIES = {
    "clerk": "青海省总工会 12351 热线受理员：受理登记、案件查询、回访",
    "clerk-sc": "四川省总工会 12351 热线受理员（省际联动）",
    "mediator-cd": "城东区总工会调解员", "mediator-cd2": "城东区总工会调解员",
    "mediator-by": "城东区八一路街道职工服务站调解员",
    "mediator-cz": "城中区总工会调解员（法院诉前委派案件）", "mediator-nc": "城中区南川工业园区职工服务站调解员",
    "mediator-cx": "城西区总工会调解员（仲裁委裁前调解案件）",
    "legalaid-xn": "西宁市总工会法律援助工作人员：审查、补充材料、决定、指派律师",
    "supervisor-xn": "西宁市总工会督办人员", "supervisor-qh": "青海省总工会督办人员：看板、查询、统计导出",
    "operator": "运维人员：系统状态（不看案件）",
}


#: demo accounts that are a mediator of the hierarchy (a mediator acts as themselves only)
DEMO_MEDIATORS = {"mediator-cd": "M-CD-01", "mediator-cd2": "M-CD-02", "mediator-by": "M-CD-BY-01",
                  "mediator-cz": "M-CZ-01", "mediator-nc": "M-CZ-NC-01", "mediator-cx": "M-CX-01"}


def make_demo(path: Path) -> dict[str, str]:
    """A demo accounts file with fresh random passwords (printed once by `laborcase up --demo`)."""
    passwords = {name: secrets.token_urlsafe(9) for name, *_ in DEMO_USERS}
    raw = {
        "users": [{"username": n, "password_hash": hash_password(passwords[n]), "role": r, "org_unit": u, "name": label,
                   **({"mediator_id": DEMO_MEDIATORS[n]} if n in DEMO_MEDIATORS else {})}
                  for n, r, u, label in DEMO_USERS],
        "partners": [
            {"key_id": "court-QH0103", "secret": secrets.token_urlsafe(32), "kind": "court", "code": "QH0103",
             "name": "西宁市城中区人民法院"},
            {"key_id": "bureau-XNLZ", "secret": secrets.token_urlsafe(32), "kind": "bureau", "code": "XNLZ",
             "name": "西宁市劳动人事争议仲裁委员会"},
        ],
    }
    write_private(path, json.dumps(raw, ensure_ascii=False, indent=2))
    return passwords
