"""Demo data for ``laborcase up --demo``: grows with each service."""

from __future__ import annotations

from collections.abc import Iterator


def seed(console: str) -> Iterator[str]:
    yield f"演示数据：暂无（服务骨架）。打开 {console} 查看系统状态。"
