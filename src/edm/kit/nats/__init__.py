"""Change events to NATS JetStream (docs/nats.md): subjects, the cross-tenant feed, the publisher."""

from edm.kit.nats.feed import Event, EventFeed, Position
from edm.kit.nats.publisher import DUPLICATE_WINDOW_S, NatsPublisher, Progress
from edm.kit.nats.subjects import event_subject, subject_token

__all__ = [
    "DUPLICATE_WINDOW_S", "Event", "EventFeed", "NatsPublisher", "Position", "Progress", "event_subject",
    "subject_token",
]  # fmt: skip
