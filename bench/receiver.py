"""A webhook receiver for ``bench.webhooks``, in a process of its own.

Minimal HTTP/1.1 over asyncio (keep-alive, Content-Length bodies), answering
204 at once; prints ``<port>`` when listening, then one line per delivery:
``<account_id> <time.perf_counter()>`` (CLOCK_MONOTONIC, comparable across
processes on Linux).  Apart from the load generator, so that neither delays
the other's clock readings.

    python -m bench.receiver
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

_RESPONSE = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            arrived = time.perf_counter()
            sys.stdout.write(f"{json.loads(body)['account_id']} {arrived}\n")
            writer.write(_RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        while True:
            await asyncio.sleep(0.5)
            sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
