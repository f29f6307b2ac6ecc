"""A partition's messages are acknowledged in offset order, a bundle once all its batches are."""

from __future__ import annotations

from dataclasses import dataclass, field

from processors.count_agent import InOrderAcks


@dataclass
class Message:
    offset: int

    def incref(self) -> None:
        """Faust's reference count: nothing to count here."""


@dataclass
class Event:
    message: Message
    acked: list[int] = field(default_factory=list)

    def ack(self) -> None:
        self.acked.append(self.message.offset)


def test_a_bundle_is_acknowledged_after_its_last_batch_and_never_before_an_earlier_message() -> (
    None
):
    acked: list[int] = []
    first, bundle, last = (Event(Message(n), acked) for n in (10, 11, 12))
    acks = InOrderAcks()
    acks.read(first)
    acks.read(bundle, parts=3)
    acks.read(last)
    acks.done(last)
    acks.done(bundle)
    acks.done(bundle)
    assert acked == [], "10 is not judged yet; 11 has a batch left"
    acks.done(first)
    assert acked == [10]
    acks.done(bundle)
    assert acked == [10, 11, 12]
