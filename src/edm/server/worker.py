"""What ``edm worker`` runs (and ``edm serve`` itself on the embedded default): the webhook
deliveries (docs/webhooks.md) and, with ``EDM_NATS_URL``, the NATS JetStream publisher
(docs/nats.md). Both read the change feed; neither ever runs inside a request."""

from __future__ import annotations

from edm.crm.webhooks.worker import WebhookWorker
from edm.kit.settings import Settings
from edm.server.nats_publishing import nats_publisher

__all__ = ["run_worker"]


async def run_worker(settings: Settings) -> None:
    """Deliver webhooks and publish to NATS until cancelled."""
    publisher = nats_publisher(settings)
    if publisher is not None:
        publisher.start()
    try:
        await WebhookWorker(settings).run()
    finally:
        if publisher is not None:
            await publisher.stop()
