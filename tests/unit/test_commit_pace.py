"""When a consumed batch's offsets are committed (services/backbone/consumer.py ``CommitPace``)."""

from services.backbone.consumer import CommitPace


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_batch_that_changed_something_commits_at_once():
    clock = Ticking()
    pace = CommitPace(5.0, clock=clock)
    assert pace.due(changed=True)
    assert pace.due(changed=True)  # however soon after the last


def test_a_batch_passed_over_waits_for_the_next_commit_or_the_time_bound():
    clock = Ticking()
    pace = CommitPace(5.0, clock=clock)
    assert pace.due(changed=False)  # nothing committed yet: the first batch commits
    clock.now += 1
    assert not pace.due(changed=False)
    clock.now += 3.9
    assert not pace.due(changed=False)
    clock.now += 0.1
    assert pace.due(changed=False)  # five seconds since the last commit
    clock.now += 1
    assert not pace.due(changed=False)
    assert pace.due(changed=True)
    clock.now += 4.9
    assert not pace.due(changed=False)  # the change's commit started the count again


def test_no_bound_commits_every_batch():
    pace = CommitPace(0.0, clock=Ticking())
    assert all(pace.due(changed=False) for _ in range(3))
