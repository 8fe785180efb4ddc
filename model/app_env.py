"""The Next.js app's environment: each variable, and the stack output it comes from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from model.project import PRODUCTION_STACK

VERCEL_TARGETS = ("production", "preview", "development")
# Vercel keeps sensitive variables out of the development target.
SENSITIVE_TARGETS = frozenset({"production", "preview"})


@dataclass(frozen=True)
class AppVariable:
    name: str
    # The stack output holding the value; a secret lives only in the `vercel_env` output.
    output: str
    secret: bool = False


APP_VARIABLES = (
    AppVariable("NEXT_PUBLIC_SOCKET_URL", "socket_url"),
    AppVariable("NEXT_PUBLIC_LIVEKIT_URL", "livekit_url"),
    AppVariable("LIVEKIT_URL", "livekit_http_url"),
    AppVariable("LIVEKIT_API_KEY", "livekit_api_key"),
    AppVariable("LIVEKIT_API_SECRET", "livekit_api_secret", secret=True),
    # The admin dashboard's view of the socket server (it used to read http://<ip>:3001/metrics,
    # a port now closed): through Caddy on the socket hostname, with the bearer token.
    AppVariable("SOCKET_METRICS_URL", "metrics_url"),
    AppVariable("SOCKET_METRICS_TOKEN", "metrics_token", secret=True),
)
APP_ENV_OUTPUT = "vercel_env"
METRICS_PATH = "/metrics"


def public_urls(socket_hostname: str, livekit_hostname: str) -> dict[str, str]:
    """The app's URLs by output name: Socket.io over HTTPS, LiveKit over WSS (browsers) and HTTPS
    (server), the socket server's metrics (the dashboard)."""
    return {
        "socket_url": f"https://{socket_hostname}",
        "livekit_url": f"wss://{livekit_hostname}",
        "livekit_http_url": f"https://{livekit_hostname}",
        "metrics_url": f"https://{socket_hostname}{METRICS_PATH}",
    }


@dataclass(frozen=True)
class VercelProject:
    project_id: str
    team_id: str | None
    targets: tuple[str, ...]
    # What the provider's project lookup takes (adoption only).
    name: str | None = None

    def import_id(self, variable_id: str) -> str:
        """What the provider's import takes for one of the project's variables."""
        return "/".join(part for part in (self.team_id, self.project_id, variable_id) if part)


def default_vercel_targets(stack: str) -> tuple[str, ...]:
    return ("production",) if stack == PRODUCTION_STACK else ("preview", "development")


def writes_production_from_elsewhere(stack: str, targets: tuple[str, ...]) -> bool:
    """Only the production stack writes the variables the live app runs with."""
    return "production" in targets and stack != PRODUCTION_STACK


def variable_targets(variable: AppVariable, targets: tuple[str, ...]) -> tuple[str, ...]:
    """The targets one variable goes to: a sensitive one never to development."""
    return tuple(target for target in targets if target in SENSITIVE_TARGETS) if variable.secret else targets


def app_environment(values: Mapping[str, str]) -> dict[str, str]:
    """The variables by name, from values keyed by their output names."""
    return {variable.name: values[variable.output] for variable in APP_VARIABLES}


def variables_digest(variables: Mapping[str, str]) -> str:
    """Changes exactly when a variable's value does; a SHA-256 reveals none of them."""
    return hashlib.sha256(json.dumps(dict(variables), sort_keys=True).encode()).hexdigest()
