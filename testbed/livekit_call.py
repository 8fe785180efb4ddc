"""Two LiveKit participants in one room with the real client SDK: one publishes a tone, the other
counts the audio frames it receives. Prints JSON. Usage: livekit_call.py URL API_KEY API_SECRET
[LISTENER_URL] (the listener joins through another LiveKit node when given; the room's node relays).
The test CA comes from SSL_CERT_FILE.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import numpy as np
from livekit import api, rtc

SAMPLE_RATE = 48000
SAMPLES_PER_FRAME = 480
FRAMES_WANTED = 50


def token(key: str, secret: str, identity: str, room: str = "e2e-room") -> str:
    grants = api.VideoGrants(room_join=True, room=room)
    return api.AccessToken(key, secret).with_identity(identity).with_grants(grants).to_jwt()


async def publish_tone(room: rtc.Room) -> rtc.AudioSource:
    source = rtc.AudioSource(SAMPLE_RATE, 1)
    track = rtc.LocalAudioTrack.create_audio_track("tone", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)
    return source


async def speak(source: rtc.AudioSource, until: asyncio.Event) -> None:
    """A 440 Hz tone, 10 ms a frame, until the event is set."""
    offset = 0
    while not until.is_set():
        frame = rtc.AudioFrame.create(SAMPLE_RATE, 1, SAMPLES_PER_FRAME)
        tone = np.sin(2 * np.pi * 440 * (np.arange(SAMPLES_PER_FRAME) + offset) / SAMPLE_RATE) * 8000
        np.copyto(np.frombuffer(frame.data, dtype=np.int16), tone.astype(np.int16))
        offset += SAMPLES_PER_FRAME
        await source.capture_frame(frame)


async def call(url: str, key: str, secret: str, listener_url: str | None = None) -> dict[str, object]:
    speaker, listener = rtc.Room(), rtc.Room()
    received = asyncio.Event()
    counted = {"frames": 0, "loud": 0}

    async def count(track: rtc.Track) -> None:
        async for event in rtc.AudioStream(track):
            samples = np.frombuffer(event.frame.data, dtype=np.int16)
            counted["frames"] += 1
            counted["loud"] += int(np.abs(samples).max() > 1000)
            if counted["loud"] >= FRAMES_WANTED:
                received.set()
                return

    counting: list[asyncio.Task[None]] = []

    @listener.on("track_subscribed")
    def subscribed(track: rtc.Track, *_: object) -> None:
        if track.kind == rtc.TrackKind.KIND_AUDIO:
            counting.append(asyncio.ensure_future(count(track)))

    await listener.connect(listener_url or url, token(key, secret, "listener"))
    await speaker.connect(url, token(key, secret, "speaker"))
    source = await publish_tone(speaker)

    speaking = asyncio.ensure_future(speak(source, received))
    try:
        await asyncio.wait_for(received.wait(), 30)
        result: dict[str, object] = {"ok": True, **counted}
    except TimeoutError:
        result = {"ok": False, "error": "no audio frames within 30 s", **counted}
    speaking.cancel()
    await speaker.disconnect()
    await listener.disconnect()
    return result


def main() -> None:
    try:
        result = asyncio.run(asyncio.wait_for(call(*sys.argv[1:5]), 60))
    except Exception as error:  # what failed is the answer, e.g. no ICE candidate pair
        result = {"ok": False, "error": f"{error.__class__.__name__}: {error}"}
    print(json.dumps(result), flush=True)
    # The answer is out; the SDK's native threads sometimes keep the interpreter from exiting.
    os._exit(0)


if __name__ == "__main__":
    main()
