"""When a consumed batch's offsets are committed (services/backbone/consumer.py ``CommitPace``)."""

from services.backbone.consumer import CommitPace


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def commits(pace: CommitPace, *, changed: bool) -> bool:
    """One batch's end as the runtime runs it: ask, and when due, commit (successfully)."""
    if pace.due(changed=changed):
        pace.committed()
        return True
    return False


def test_a_batch_that_changed_something_commits_at_once():
    pace = CommitPace(5.0, clock=Ticking())
    assert commits(pace, changed=True)
    assert commits(pace, changed=True)  # however soon after the last


def test_a_batch_passed_over_waits_for_the_next_commit_or_the_time_bound():
    clock = Ticking()
    pace = CommitPace(5.0, clock=clock)
    assert commits(pace, changed=False)  # nothing committed yet: the first batch commits
    clock.now += 1
    assert not commits(pace, changed=False)
    clock.now += 3.9
    assert not commits(pace, changed=False)
    clock.now += 0.1
    assert commits(pace, changed=False)  # read five seconds after the last commit
    clock.now += 1
    assert not commits(pace, changed=False)
    assert commits(pace, changed=True)
    clock.now += 4.9
    assert not commits(pace, changed=False)  # the change's commit started the count again


def test_a_failed_commit_is_owed_by_the_next_batch_whatever_it_holds():
    clock = Ticking()
    pace = CommitPace(5.0, clock=clock)
    assert commits(pace, changed=False)
    clock.now += 1
    assert pace.due(changed=True)
    pace.failed()  # e.g. the coordinator moved
    clock.now += 1
    assert commits(pace, changed=False)  # only passed over, but the applied batch's positions are still owed
    clock.now += 1
    assert not commits(pace, changed=False)


def test_a_commit_asked_for_and_not_made_is_still_owed():
    clock = Ticking()
    pace = CommitPace(5.0, clock=clock)
    assert commits(pace, changed=False)
    assert pace.due(changed=True)  # the runtime stopped before committing
    assert pace.due(changed=False)


def test_no_bound_commits_every_batch():
    pace = CommitPace(0.0, clock=Ticking())
    assert all(commits(pace, changed=False) for _ in range(3))
