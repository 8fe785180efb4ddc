"""A call held across a release: one participant speaks a tone, another listens. Prints `flowing`
once audio arrives, holds the call until stdin closes, then prints JSON: the frames heard, the
frames a steady 10 ms stream would have given since then (the difference is what was lost), the
longest gap between two heard frames, and whether either participant was disconnected.
Usage: livekit_hold.py URL API_KEY API_SECRET (the test CA comes from SSL_CERT_FILE).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import numpy as np
from livekit import rtc
from livekit_call import publish_tone, speak, token

FRAME_SECONDS = 0.01


async def hold(url: str, key: str, secret: str) -> dict[str, object]:
    speaker, listener = rtc.Room(), rtc.Room()
    heard: list[float] = []
    flowing = asyncio.Event()
    disconnected: list[str] = []

    async def count(track: rtc.Track) -> None:
        async for event in rtc.AudioStream(track):
            if np.abs(np.frombuffer(event.frame.data, dtype=np.int16)).max() > 1000:
                heard.append(time.monotonic())
                if len(heard) >= 20:
                    flowing.set()

    counting: list[asyncio.Task[None]] = []

    @listener.on("track_subscribed")
    def subscribed(track: rtc.Track, *_: object) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            counting.append(asyncio.ensure_future(count(track)))

    for name, room in (("listener", listener), ("speaker", speaker)):
        room.on("disconnected", lambda *_, who=name: disconnected.append(who))
    await listener.connect(url, token(key, secret, "listener", room="held-room"))
    await speaker.connect(url, token(key, secret, "speaker", room="held-room"))
    source = await publish_tone(speaker)
    stop = asyncio.Event()
    speaking = asyncio.ensure_future(speak(source, stop))
    await asyncio.wait_for(flowing.wait(), 30)
    print("flowing", flush=True)
    since = len(heard)
    started = time.monotonic()
    stdin_closed = asyncio.Event()
    asyncio.get_running_loop().add_reader(sys.stdin, stdin_closed.set)
    await stdin_closed.wait()
    held = heard[since:]
    gaps = np.diff([started, *held, time.monotonic()])
    # Before leaving: our own disconnects are not the release's.
    dropped = list(disconnected)
    stop.set()
    speaking.cancel()
    await speaker.disconnect()
    await listener.disconnect()
    return {
        "ok": True,
        "frames": len(held),
        "expected": int((time.monotonic() - started) / FRAME_SECONDS),
        "longest_gap_ms": round(float(gaps.max()) * 1000),
        "disconnected": dropped,
    }


def main() -> None:
    try:
        result = asyncio.run(hold(*sys.argv[1:4]))
    except Exception as error:  # what failed is the answer
        result = {"ok": False, "error": f"{error.__class__.__name__}: {error}"}
    print(json.dumps(result), flush=True)
    # The answer is out; the SDK's native threads sometimes keep the interpreter from exiting.
    os._exit(0)


if __name__ == "__main__":
    main()
