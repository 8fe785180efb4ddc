"""The host's docker-compose stack, rolled out over SSH as content-addressed, health-gated releases.

Resources: the LiveKit API key and secret (pulumi-random, unless carried over); over SSH (pulumi-command) a wait for the
first boot, one upload per plain file into `releases/<id>/`, the secret files written from stdin,
and `release.sh activate` (whose delete is `release.sh retire`).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import pulumi
import pulumi_random as random
from pulumi_command import remote

from components.origin_certificate import OriginCertificate
from components.turn_certificate import TurnCertificate
from model import ports
from model.app import SocketServer
from model.compute import InstanceSpec
from model.layout import RELEASE_SCRIPT, RELEASES_DIR, app_dir
from model.mirror import MirroredSecrets
from model.ports import Ingress
from model.project import Project
from model.tuning import CONTAINER_NOFILE
from render.release import (
    ReleaseSettings,
    SecretValues,
    activate_command,
    release_id,
    release_shape,
    render_plain_files,
    render_secret_files,
    retire_command,
    secret_digests,
    secrets_stdin,
)

# A fresh VM refuses SSH for a minute or two while it boots: ~60 dials of 10 s.
BOOT_DIAL_ERROR_LIMIT = 60
BOOT_DIAL_TIMEOUT_SECONDS = 10

# A fresh VM finishes cloud-init within minutes; a host without it (an existing server) has no first boot.
FIRST_BOOT_TIMEOUT_SECONDS = 1200
WAIT_FOR_BOOT = (
    "if command -v cloud-init > /dev/null; then "
    "echo 'waiting for cloud-init to finish the first boot' >&2; "
    f"timeout {FIRST_BOOT_TIMEOUT_SECONDS} cloud-init status --wait > /dev/null 2>&1; status=$?; "
    'if [ "$status" -eq 124 ]; then '
    f'echo "cloud-init has not finished after {FIRST_BOOT_TIMEOUT_SECONDS}s: see /var/log/cloud-init-output.log" >&2; '
    "exit 1; fi; "
    # 2 means finished with recoverable warnings.
    'if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then '
    'echo "cloud-init reported an error (status $status): see /var/log/cloud-init-output.log" >&2; exit 1; fi; '
    "else echo 'no cloud-init on this host: no first boot to wait for' >&2; fi; "
    'docker compose version > /dev/null || { echo "docker compose v2 is not installed" >&2; exit 1; }'
)


@dataclass(frozen=True)
class SshTarget:
    host: pulumi.Input[str]
    user: str
    private_key: pulumi.Input[str]
    # None: the host key is not checked.
    host_public_key: pulumi.Input[str] | None
    # Which machine this is (an instance id, or an address and host key): a new one re-waits for
    # its boot and gets the release again.
    machine_id: pulumi.Input[str]
    # What LiveKit advertises for media.
    public_ip: pulumi.Input[str]
    port: int = ports.SSH.first


@dataclass(frozen=True)
class RolloutArgs:
    target: SshTarget
    socket_hostname: str
    livekit_hostname: str
    # The Cloudflare Origin CA certificate and key; None lets Caddy obtain its own (ACME).
    certificate: OriginCertificate | None
    ingress: pulumi.Input[Ingress]
    # The server's size, for the services' limits.
    instance: InstanceSpec
    socket_server: SocketServer
    project: Project
    # Ship and install the month-to-date outbound meter (OCI stacks with cost alerts).
    egress_meter: bool = False
    # A key pair carried over from the server being replaced; None generates one.
    livekit_api_key: str | None = None
    livekit_api_secret: pulumi.Input[str] | None = None
    # The socket server's secret NAME=value lines, and the private registry's password.
    app_secret_environment: pulumi.Input[str] | None = None
    registry_password: pulumi.Input[str] | None = None
    # TURN/TLS's hostname and certificate; the ingress must redirect 443 for it. None: off.
    turn: TurnCertificate | None = None
    # The services' open-file limit, as high as the host's dockerd may raise it.
    open_files: int = CONTAINER_NOFILE
    # A preview of the stack's mirror: the secrets step as the mirror recorded it (config.mirror).
    mirrored_secrets: MirroredSecrets | None = None


class Rollout(pulumi.ComponentResource):
    release_id: pulumi.Output[str]
    livekit_api_key: pulumi.Output[str]
    livekit_api_secret: pulumi.Output[str]
    metrics_token: pulumi.Output[str]

    def __init__(self, name: str, args: RolloutArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:host:Rollout", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        livekit_api_key, livekit_api_secret = livekit_keys(name, args.livekit_api_key, args.livekit_api_secret, child)
        # The admin dashboard's key to the socket server's metrics, through Caddy.
        metrics_token = random.RandomPassword(f"{name}-metrics-token", length=48, special=False, opts=child)
        # Keys the secret files' digests, which a preview shows (scripts/host-diff).
        digest_key = random.RandomPassword(f"{name}-digest-key", length=32, special=False, opts=child)

        server, target, certificate, turn = args.socket_server, args.target, args.certificate, args.turn
        shape = release_shape(server, certificate is not None, args.egress_meter, turn is not None)

        def plain(values: list[Any]) -> dict[str, str]:
            public_ip, certificate_pem, ingress = values
            return render_plain_files(
                ReleaseSettings(
                    stack=args.project.stack,
                    public_ip=public_ip,
                    socket_hostname=args.socket_hostname,
                    livekit_hostname=args.livekit_hostname,
                    certificate_pem=certificate_pem,
                    ingress=ingress,
                    instance=args.instance,
                    socket_server=server,
                    egress_meter=args.egress_meter,
                    turn_hostname=turn.hostname if turn else None,
                    open_files=args.open_files,
                )
            )

        # Known in a preview (no generated value in them), so preview can name every file.
        plain_files = pulumi.Output.all(
            target.public_ip, certificate.certificate_pem if certificate else None, args.ingress
        ).apply(plain)
        secret_values = pulumi.Output.all(
            livekit_api_key=livekit_api_key,
            livekit_api_secret=livekit_api_secret,
            metrics_token=metrics_token.result,
            origin_key_pem=certificate.private_key_pem if certificate else None,
            app_environment=args.app_secret_environment,
            registry_password=args.registry_password,
            turn_certificate_chain_pem=turn.certificate_chain_pem if turn else None,
            turn_key_pem=turn.private_key_pem if turn else None,
        )
        rendered: pulumi.Input[dict[str, str]] = secret_values.apply(
            lambda values: render_secret_files(SecretValues(**values), shape, server.livekit_access)
        )
        secret_files = pulumi.Output.secret(rendered)
        mirrored = args.mirrored_secrets
        digests: pulumi.Output[str]
        if mirrored is None:
            digests = pulumi.Output.all(secret_files, digest_key.result).apply(lambda v: secret_digests(v[0], v[1]))
            stdin = secret_files.apply(secrets_stdin)
        else:
            digests, stdin = pulumi.Output.from_input(mirrored.digests), pulumi.Output.secret(mirrored.stdin)
        # The id hashes the secret files' keyed digests too (so a rotated secret re-rolls): they
        # reveal nothing of them, and the id must be readable in paths and diffs.
        this_release = pulumi.Output.unsecret(
            pulumi.Output.all(plain_files, digests).apply(lambda values: release_id(values[0], values[1]))
        )
        release_dir = pulumi.Output.concat(app_dir(target.user), f"/{RELEASES_DIR}/", this_release)
        script_path = pulumi.Output.concat(release_dir, f"/{RELEASE_SCRIPT}")
        release_script = pulumi.Output.concat("sh ", script_path.apply(shlex.quote))

        connection = remote.ConnectionArgs(
            host=target.host,
            user=target.user,
            private_key=target.private_key,
            host_key=target.host_public_key,
            # Left to the provider's default (22) so that stacks recorded without a port see no change.
            port=None if target.port == ports.SSH.first else target.port,
            dial_error_limit=BOOT_DIAL_ERROR_LIMIT,
            per_dial_timeout=BOOT_DIAL_TIMEOUT_SECONDS,
        )

        wait_for_boot = remote.Command(
            f"{name}-wait-for-boot",
            connection=connection,
            create=WAIT_FOR_BOOT,
            triggers=[target.machine_id],
            opts=child,
        )

        uploads = [
            remote.CopyToRemote(
                f"{name}-upload-{file_name.replace('/', '-').lstrip('.')}",
                connection=connection,
                source=plain_files.apply(partial(_asset, file_name)),
                remote_path=pulumi.Output.concat(release_dir, "/", file_name),
                # A replaced server is a new host: everything is uploaded again.
                triggers=[this_release, target.machine_id],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[wait_for_boot]),
            )
            for file_name in shape.plain_files
        ]

        receive_secrets = remote.Command(
            f"{name}-secrets",
            connection=connection,
            create=pulumi.Output.concat(release_script, " receive-secrets"),
            stdin=stdin,
            # The digests let a preview say which secret file a release changes (scripts/host-diff).
            triggers=[this_release, pulumi.Output.unsecret(digests), target.machine_id],
            opts=pulumi.ResourceOptions(parent=self, depends_on=uploads),
        )

        activate = remote.Command(
            f"{name}-activate",
            connection=connection,
            # A replaced server changes the command, not the triggers: an update runs it on the new
            # machine, and no delete is sent to the old one (which may be gone, or hold another key).
            create=pulumi.Output.all(script_path, target.machine_id).apply(lambda v: activate_command(v[0], v[1])),
            delete=pulumi.Output.all(script_path, target.machine_id).apply(lambda v: retire_command(v[0], v[1])),
            triggers=[this_release],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[receive_secrets]),
        )

        # Known once the release is active (and unknown in a preview that would roll out).
        self.release_id = pulumi.Output.all(this_release, activate.id).apply(lambda values: str(values[0]))
        self.livekit_api_key = livekit_api_key
        self.livekit_api_secret = pulumi.Output.secret(livekit_api_secret)
        self.metrics_token = pulumi.Output.secret(metrics_token.result)
        self.register_outputs(
            {
                "release_id": self.release_id,
                "livekit_api_key": self.livekit_api_key,
                "livekit_api_secret": self.livekit_api_secret,
                "metrics_token": self.metrics_token,
            }
        )


def livekit_keys(
    name: str,
    given_key: pulumi.Input[str] | None,
    given_secret: pulumi.Input[str] | None,
    child: pulumi.ResourceOptions,
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """LiveKit's API key and secret: the given ones (a cutover keeps the old server's), or generated."""
    if given_key is not None and given_secret is not None:
        return pulumi.Output.from_input(given_key), pulumi.Output.secret(given_secret)
    api_key = random.RandomString(f"{name}-livekit-api-key", length=12, special=False, opts=child)
    api_secret = random.RandomPassword(f"{name}-livekit-api-secret", length=48, special=False, opts=child)
    return pulumi.Output.concat("API", api_key.result), api_secret.result


def _asset(file_name: str, files: Mapping[str, str]) -> pulumi.StringAsset:
    return pulumi.StringAsset(files[file_name])
