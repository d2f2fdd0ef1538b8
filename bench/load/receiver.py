"""A webhook receiver for the delivery benchmark: HTTP/1.1 with keep-alive on asyncio, answering every request with
204 after reading its body. It verifies nothing (tests/webhook_receiver.py checks signatures) and costs little, so
the benchmark measures the deliverer, not the receiver.

    .venv/bin/python -m bench.load.receiver PORT
"""

from __future__ import annotations

import asyncio
import sys

_ANSWER = b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(_ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_main(int(sys.argv[1])))
