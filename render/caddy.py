"""The Caddyfile, from the template in host-files/: one site per hostname, each with /healthz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from string import Template

from model import layout, ports
from model.app_env import METRICS_PATH
from render import HOST_FILES

HEALTH_ROUTE = "/healthz"
# In Caddy's folder (layout.CADDY_DIR), where release.sh puts them.
CERTIFICATE_DIR = "tls"
CERTIFICATE_FILE = f"{CERTIFICATE_DIR}/origin.pem"
KEY_FILE = f"{CERTIFICATE_DIR}/origin.key"
IN_CONTAINER = layout.CADDY_DIR_IN_CONTAINER


@dataclass(frozen=True)
class Site:
    hostname: str
    # The reverse proxy's upstream lines.
    upstream: str
    # The upstream's own health endpoint that /healthz is answered from.
    health_path: str
    # Upstream routes (metrics) answered through Caddy only with the bearer token; 404 otherwise.
    internal_paths: tuple[str, ...] = ()


def sites_for(socket_hostname: str, livekit_hostname: str) -> tuple[Site, Site]:
    # The socket server's live slot is a file of its own, rewritten and reloaded by a release.
    socket_upstream = f"import {layout.SOCKET_UPSTREAM_FILE}"
    return (
        Site(socket_hostname, socket_upstream, "/health", internal_paths=(METRICS_PATH, f"{METRICS_PATH}/*")),
        Site(livekit_hostname, f"to 127.0.0.1:{ports.LIVEKIT_SIGNALING.port}", "/"),
    )


# The admin API, for release.sh's `caddy reload`: a socket in Caddy's own config volume, no port.
CADDY_ADMIN_SOCKET = "unix//config/caddy-admin.sock"

# The token comes from Caddy's environment (a 0600 secret file), never from the Caddyfile; the
# length check keeps an unset variable ("Bearer ") from opening the route.
METRICS_TOKEN_MIN_LENGTH = 32


def _internal_routes(paths: Sequence[str]) -> str:
    if not paths:
        return ""
    return (
        "\t@internal {\n"
        f"\t\tpath {' '.join(paths)}\n"
        "\t\tnot {\n"
        f'\t\t\theader Authorization "Bearer {{env.{layout.METRICS_TOKEN_VARIABLE}}}"\n'
        f'\t\t\theader_regexp Authorization "^Bearer [A-Za-z0-9]{{{METRICS_TOKEN_MIN_LENGTH},}}$"\n'
        "\t\t}\n"
        "\t}\n"
        "\trespond @internal 404\n"
    )


def render_caddyfile(sites: Sequence[Site], trusted_proxies: Sequence[str], origin_certificate: bool = True) -> str:
    """With `origin_certificate`, the origin certificate from files; without, Caddy's own ACME certificates."""
    site_template = Template((HOST_FILES / "Caddyfile.site.tmpl").read_text())
    blocks = "".join(
        site_template.substitute(
            hostname=s.hostname,
            upstream=s.upstream,
            health_path=s.health_path,
            internal_routes=_internal_routes(s.internal_paths),
        )
        for s in sites
    )
    rendered = Template((HOST_FILES / "Caddyfile.tmpl").read_text()).substitute(
        caddy_health_port=ports.CADDY_HEALTH.port,
        admin_socket=CADDY_ADMIN_SOCKET,
        certificate_policy=(
            "\t# Certificates are Cloudflare Origin CA ones from files; nothing is requested from an ACME CA.\n"
            "\tauto_https disable_certs\n"
            if origin_certificate
            else "\t# No origin certificate: Caddy obtains publicly trusted certificates itself (ACME).\n"
        ),
        tls=f"\ttls {IN_CONTAINER}/{CERTIFICATE_FILE} {IN_CONTAINER}/{KEY_FILE}\n" if origin_certificate else "",
        trusted_proxies=" ".join(trusted_proxies) if trusted_proxies else "private_ranges",
        # Cloudflare sets this one itself; the left of X-Forwarded-For is whatever the client sent.
        client_ip_headers="\t\tclient_ip_headers CF-Connecting-IP\n" if trusted_proxies else "",
        sites=blocks,
    )
    return rendered.rstrip() + "\n"
