"""A change event as every reader sends it, and the horizon every feed reader stays below.

The record engine writes events to ``record_events`` (``edm.crm.engine.events``);
the change feed, webhooks and NATS all send each one as the same document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from edm.kit.types import iso_utc_millis

__all__ = ["BELOW_HORIZON", "event_document"]

# PostgreSQL: the events of transactions older than the oldest one still running.
# Every one of those has committed or never will, so nothing can later appear
# behind a position taken here (docs/changes.md, "Guarantees").
BELOW_HORIZON = "txid < pg_snapshot_xmin(pg_current_snapshot())"


def event_document(
    *, id: str, type: str, record_id: str, version: int, at: datetime | str, by: str, data: Any
) -> dict[str, Any]:
    """``{"id","type","<noun>_id","version","at","by","data"}``; ``at`` as a datetime, or already as its text."""
    return {
        "id": id,
        "type": type,
        f"{type.partition('.')[0]}_id": record_id,
        "version": version,
        "at": at if isinstance(at, str) else iso_utc_millis(at),
        "by": by,
        "data": data,
    }
