"""Dead letters: list, inspect and replay them (``laborcase dlq list|show|replay``).

A dead letter keeps the original bytes and headers and adds ``x-dlq-*`` headers saying why, from
which topic, partition and offset, and which service gave up on it. Replaying sends the original
(or a corrected) value back to the original topic; consumers are idempotent, so a replay is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from events.catalog import TOPICS
from services.backbone import kafka


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def id(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    def header(self, name: str) -> str:
        for key, value in self.headers:
            if key == name:
                return value.decode(errors="replace")
        return ""

    @property
    def original_topic(self) -> str:
        return self.header("x-dlq-topic") or self.topic.removesuffix(".dlq")

    @property
    def reason(self) -> str:
        return self.header("x-dlq-reason")

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id, "original_topic": self.original_topic, "service": self.header("x-dlq-service"),
            "at": self.header("x-dlq-at"), "reason": self.reason,
            "original": f"{self.header('x-dlq-partition')}:{self.header('x-dlq-offset')}",
        }


def dead_letter_topics() -> list[str]:
    return sorted(t for t in TOPICS if t.endswith(".dlq"))


async def list_dead_letters(bootstrap: str, topics: list[str] | None = None) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    for topic in topics or dead_letter_topics():
        for r in await kafka.read_all(bootstrap, topic):
            letters.append(DeadLetter(topic, r.partition, r.offset, r.key, r.value or b"",
                                      tuple((k, v or b"") for k, v in r.headers or ())))
    return letters


async def find(bootstrap: str, letter_id: str) -> DeadLetter:
    topic = letter_id.rsplit(":", 2)[0]
    for letter in await list_dead_letters(bootstrap, [topic]):
        if letter.id == letter_id:
            return letter
    raise KeyError(letter_id)


async def replay(bootstrap: str, letter: DeadLetter, *, value: bytes | None = None) -> None:
    """Send the dead letter (or a corrected value) back to its original topic."""
    headers = [(k, v) for k, v in letter.headers if not k.startswith("x-dlq-")]
    headers.append(("x-replayed-from", letter.id.encode()))
    producer = AIOKafkaProducer(**kafka.connection(), bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(letter.original_topic, value if value is not None else letter.value,
                                     key=letter.key, headers=headers)
    finally:
        await producer.stop()
