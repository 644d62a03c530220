"""The base of the SDK's models, hand-written; the models themselves are generated (``edm.sdk.types``).

Every attribute of a record is optional: a sparse list (``fields=["name"]``)
leaves the others ``None``; ``record.model_fields_set`` tells which keys the
server actually sent.  Keys the server sends that this SDK does not know yet
are kept (``record.model_extra``), never an error.

Enum fields (``source_type``, an address's ``type``) are typed ``str`` on the
models rather than a ``Literal`` so a server that learns a new value does not
break older clients; the allowed values are in each field's description.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = ["BaseRecord", "UTCDateTime"]


class BaseRecord(BaseModel):
    """Base of the SDK's models: unknown keys from the server are kept, not refused."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    def __repr_args__(self) -> Any:  # hide the unset (sparse) attributes in repr()
        return [(k, v) for k, v in super().__repr_args__() if k in self.model_fields_set]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A datetime as the SDK returns it: timezone-aware, in UTC (a naive one from the server is taken as UTC).
UTCDateTime = Annotated[datetime, AfterValidator(_utc)]
