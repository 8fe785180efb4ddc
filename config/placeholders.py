"""Stand-in values for the secret settings, for previews that must not hold the real ones (a pull
request's preview of the stack's mirror: scripts/preview-mirror). Each one passes its key's checks,
and each is a function of the key and the plain settings only, so the side that has the secrets
(publishing the mirror) and the side that has none (previewing it) agree on it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from config.cost import ALERT_CHAT_WEBHOOK
from config.cutover import LIVEKIT_API_SECRET, MIN_LIVEKIT_SECRET_LENGTH
from config.existing import TARGET_PRIVATE_KEY
from config.keys import Key
from config.socket_env import REGISTRY_PASSWORD, SECRET_ENVIRONMENT
from config.vercel import DEPLOY_HOOK, PROJECT_ID

PlainSettings = Mapping[str, str]


def _digest(key: Key) -> bytes:
    return hashlib.sha256(f"placeholder:{key.full_name}".encode()).digest()


def _private_key(key: Key, _: PlainSettings) -> str:
    pem = Ed25519PrivateKey.from_private_bytes(_digest(key)).private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    return pem.decode()


def _deploy_hook(_: Key, plain: PlainSettings) -> str:
    project = plain.get(PROJECT_ID.name, "prj_placeholder")
    return f"https://api.vercel.com/v1/integrations/deploy/{project}/placeholder"


def _token(key: Key, _: PlainSettings) -> str:
    return _digest(key).hex()[: max(MIN_LIVEKIT_SECRET_LENGTH, 32)]


_PLACEHOLDERS: dict[Key, Callable[[Key, PlainSettings], str]] = {
    TARGET_PRIVATE_KEY: _private_key,
    ALERT_CHAT_WEBHOOK: lambda key, _: f"https://placeholder.invalid/{key.name}",
    DEPLOY_HOOK: _deploy_hook,
    LIVEKIT_API_SECRET: _token,
    SECRET_ENVIRONMENT: lambda _key, _plain: "PREVIEW_PLACEHOLDER=placeholder\n",
    REGISTRY_PASSWORD: _token,
}
SECRET_KEYS = tuple(_PLACEHOLDERS)


def placeholder(key: Key, plain: PlainSettings) -> str:
    """`plain`: the stack's plain settings by key name (without the namespace)."""
    return _PLACEHOLDERS[key](key, plain)
