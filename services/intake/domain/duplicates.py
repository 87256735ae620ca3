"""The clerk's choice about a possible duplicate (疑似重复来件), pure.

Intake finds the open cases of the same worker(s) against the same employer with an overlapping claim. A clerk
is shown those within their scope before committing and says what to do: join one of them (关联) or register a
new case anyway (另立新案). A caller that says nothing (a script, an older client) gets the earlier behaviour:
the oldest such case is joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Action = Literal["link", "new"]


class DuplicateChoiceError(ValueError):
    """The choice names no case the submission may join (message in Chinese, for the clerk)."""


@dataclass(frozen=True)
class DuplicateChoice:
    action: Action
    #: link: the case to join; new: the case the clerk decided it is not (kept in the case log)
    case_id: str | None = None
    reason: str | None = None


def case_to_link(choice: DuplicateChoice | None, candidates: Sequence[str]) -> str | None:
    """Which open case the submission joins (None: a new case). ``candidates``: the possible duplicates within
    the submitter's scope, oldest first."""
    if choice is None:
        return candidates[0] if candidates else None
    if choice.action == "new":
        return None
    if not choice.case_id:
        raise DuplicateChoiceError("请选择要关联的原案件")
    if choice.case_id not in candidates:
        raise DuplicateChoiceError(f"案件 {choice.case_id} 不是本次来件可关联的原案件（不是同一职工和用人单位的未办结案件）")
    return choice.case_id
