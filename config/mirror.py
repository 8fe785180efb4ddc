"""A preview of the stack's mirror (scripts/preview-mirror): what the mirror's state says the
secrets step carries. The mirror cannot know the secrets, so without this every preview of it would
show the whole release replaced (the release id hashes the secret files' digests)."""

from __future__ import annotations

import json

from config.keys import Key
from config.reader import Reader
from model.mirror import MirroredSecrets

MIRRORED_SECRETS = Key(
    "previewMirrorSecrets",
    "string",
    "JSON",
    "set only by `scripts/preview-mirror config` in a pull request's preview: the secrets step's digests and "
    "input as the mirror's state records them; refused by `up`",
    '{"digests": "...", "stdin": "..."}',
    default_doc="none",
)
KEYS = (MIRRORED_SECRETS,)


def read_mirrored_secrets(reader: Reader, dry_run: bool) -> MirroredSecrets | None:
    text = reader.raw(MIRRORED_SECRETS)
    if text is None:
        return None
    fix = f"pulumi config rm {MIRRORED_SECRETS.full_name}"
    if not dry_run:
        reader.problem(MIRRORED_SECRETS, "is for a preview of the mirror only; an up would send stand-ins", fix)
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not (isinstance(value, dict) and all(isinstance(value.get(name), str) for name in ("digests", "stdin"))):
        reader.problem(MIRRORED_SECRETS, "is not the JSON scripts/preview-mirror config writes", fix)
        return None
    return MirroredSecrets(value["digests"], value["stdin"])
