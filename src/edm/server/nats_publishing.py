"""What the worker runs to publish change events to NATS JetStream (docs/nats.md).

``nats_publisher(settings)`` is None unless ``EDM_NATS_URL`` is set; otherwise
a publisher reporting to the metrics, to ``start()`` as a task beside the
worker's others and ``stop()`` on the way out.
"""

from __future__ import annotations

from edm.kit.nats import NatsPublisher
from edm.kit.settings import Settings
from edm.server.observability import observe_nats_progress

__all__ = ["nats_publisher"]


def nats_publisher(settings: Settings) -> NatsPublisher | None:
    if not settings.nats_url:
        return None
    return NatsPublisher(settings, on_progress=observe_nats_progress)
