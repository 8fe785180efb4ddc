"""Cloudflare's proxy, as far as the origin can tell: connections to it arrive from its address.

edge_relay.py LISTEN_ADDR PORT ORIGIN_ADDR   relays TCP LISTEN_ADDR:PORT -> ORIGIN_ADDR:PORT,
                                             connecting from LISTEN_ADDR
"""

from __future__ import annotations

import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main(listen: str, port: int, origin: str) -> None:
    async def relay(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            origin_reader, origin_writer = await asyncio.open_connection(origin, port, local_addr=(listen, 0))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, origin_writer), pipe(origin_reader, client_writer))

    server = await asyncio.start_server(relay, listen, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
