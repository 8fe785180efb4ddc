"""What a preview of the stack's mirror (scripts/preview-mirror) gives the rollout instead of the
secrets, which the mirror cannot know: the secrets step as the mirror's state recorded it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MirroredSecrets:
    # `name=digest ...` of the secret files (render.release.secret_digests), as recorded.
    digests: str
    # What the secrets step reads on stdin, as recorded (in a mirror, a stand-in).
    stdin: str
