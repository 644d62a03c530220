"""uvicorn's httptools protocol with a bounded request head.

httptools keeps an unfinished header line in memory whole (and uvicorn the
request target), so a client could grow a worker by whatever it sends before
the final CRLF.  ``BoundedHeadProtocol`` counts the bytes of each request
head (request line and headers) as they arrive and, past ``MAX_HEAD_BYTES``,
stops feeding the parser, answers 431 as problem+json and closes the
connection.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
import structlog
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["MAX_HEAD_BYTES", "BoundedHeadProtocol"]

MAX_HEAD_BYTES = 64 * 1024
# After a 431, what the client still sends is read and dropped for this long
# before the socket closes: closing with unread input makes the kernel send a
# reset, which can destroy the 431 before the client reads it.
LINGER_SECONDS = 2.0

log = structlog.get_logger("edm.server")


class BoundedHeadProtocol(HttpToolsProtocol):
    """One HTTP/1.1 connection whose request heads may take at most ``MAX_HEAD_BYTES`` each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_room: int | None = MAX_HEAD_BYTES  # None while a body is read
        self._refused = False

    def on_headers_complete(self) -> None:
        self._head_room = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Pipelined bytes that arrived in the same read as the end of this
        # message go uncounted: at most one read (256 KiB) more.
        self._head_room = MAX_HEAD_BYTES

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: drop it
        room = self._head_room
        if room is None or len(data) <= room:
            if room is not None:
                self._head_room = room - len(data)
            super().data_received(data)
            return
        # More than the head may still take: feed what it may, then see whether it ended there.
        self._head_room = 0
        if room:
            super().data_received(data[:room])
        if self.transport.is_closing():
            return
        if self._head_room == 0:  # still inside the same head, which is full
            self._refuse_head()
        else:
            self.data_received(data[room:])

    def _refuse_head(self) -> None:
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head while an earlier response is under way: a 431
            # now would land inside that response.
            self.transport.close()
            return
        request_id = f"req_{os.urandom(16).hex()}"
        log.warning(
            "request head too large", limit=MAX_HEAD_BYTES, request_id=request_id
        )
        self.transport.write(_answer_431(request_id, self.server_state.default_headers))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)


def _answer_431(request_id: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole response, in the shape of every other EDM error (``edm.kit.web.problems``)."""
    body = orjson.dumps(
        {
            "type": "urn:edm:problem:request_header_fields_too_large",
            "title": "Request header fields too large",
            "status": 431,
            "detail": f"the request line and headers must be at most {MAX_HEAD_BYTES} bytes",
            "code": "request_header_fields_too_large",
            "request_id": request_id,
            "errors": [],
        }
    )
    headers = [
        *default_headers,
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"connection", b"close"),
    ]
    return b"".join(
        [
            STATUS_LINE[431],
            *(name + b": " + value + b"\r\n" for name, value in headers),
            b"\r\n",
            body,
        ]
    )
