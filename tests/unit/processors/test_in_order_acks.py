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


def test_a_message_is_judged_once_done_or_if_it_came_before_the_first_one_read() -> None:
    """What a count mirror leaves out when it loads a subject from Redis: counts of the
    messages not judged yet (held by the aligner, a bundle with a batch left, or not read
    yet), which a crashed owner wrote and this worker is about to replay."""
    acked: list[int] = []
    acks = InOrderAcks()
    assert not acks.judged(5, "a"), "nothing read: nothing is known"
    first, held, bundle = (Event(Message(n), acked) for n in (10, 11, 12))
    acks.read(first)
    acks.read(held)
    acks.read(bundle, parts=2)
    acks.done(first, "a")
    acks.done(bundle, "b")
    judged = [acks.judged(n, "x") for n in (9, 10, 11, 12, 13)]
    assert judged == [True, True, False, False, False]
    assert acks.judged(12, "b"), "the bundle's part of article b is done, not the other"
    acks.done(bundle, "c")  # done, though 11 still holds its acknowledgement back
    assert acked == [10] and acks.judged(12, "x") and not acks.judged(11, "x")
    acks.done(held, "d")
    assert acked == [10, 11, 12] and all(acks.judged(n, "x") for n in (10, 11, 12))
