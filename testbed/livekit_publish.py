"""One participant publishing a tone until stdin closes, with the real client SDK.
Usage: livekit_publish.py URL API_KEY API_SECRET TOKEN_FOR_LISTENER_IDENTITY
Prints `publishing` and then a listener's token (for a client that joins the same room).
"""

from __future__ import annotations

import asyncio
import os
import sys

from livekit import rtc
from livekit_call import publish_tone, speak, token


async def main(url: str, key: str, secret: str, listener: str) -> None:
    room = rtc.Room()
    await room.connect(url, token(key, secret, "speaker"))
    source = await publish_tone(room)
    print("publishing", flush=True)
    print(token(key, secret, listener), flush=True)
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin, closed.set)
    await speak(source, closed)
    await room.disconnect()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
    # Done; the SDK's native threads sometimes keep the interpreter from exiting.
    sys.stdout.flush()
    os._exit(0)
