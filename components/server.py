"""The Ampere A1 instance, its reserved public IP and the SSH keys that reach it.

Resources: deploy key and host key (pulumi-tls), the A1 instance (first boot from cloud-init),
a reserved public IP on its primary private IP.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_oci as oci
import pulumi_tls as tls

from components.rollout import SshTarget
from model.compute import InstanceSpec, Placement
from model.ports import Ingress
from model.project import Project
from render.cloud_init import CloudInitSettings, render_cloud_init


@dataclass(frozen=True)
class ServerArgs:
    compartment_id: str
    subnet_id: pulumi.Input[str]
    project: Project
    instance: InstanceSpec
    # The availability domain and image the region answered (wiring.lookups).
    placement: Placement
    deploy_user: str
    admin_ssh_public_keys: Sequence[str]
    ingress: pulumi.Input[Ingress]


class Server(pulumi.ComponentResource):
    instance_id: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    deploy_private_key: pulumi.Output[str]
    host_public_key: pulumi.Output[str]

    def __init__(self, name: str, args: ServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:compute:Server", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        child_invoke = pulumi.InvokeOptions(parent=self)

        deploy_key = tls.PrivateKey(f"{name}-deploy-key", algorithm="ED25519", opts=child)
        host_key = tls.PrivateKey(f"{name}-host-key", algorithm="ED25519", opts=child)

        user_data = pulumi.Output.all(host_key.private_key_openssh, host_key.public_key_openssh, args.ingress).apply(
            lambda values: base64.b64encode(
                render_cloud_init(
                    CloudInitSettings(
                        deploy_user=args.deploy_user,
                        host_private_key_openssh=values[0],
                        host_public_key_openssh=values[1],
                        ingress=values[2],
                    )
                ).encode()
            ).decode()
        )
        authorized_keys = deploy_key.public_key_openssh.apply(
            lambda deploy: "\n".join([deploy.strip(), *args.admin_ssh_public_keys])
        )

        metadata: pulumi.Input[dict[str, str]] = pulumi.Output.all(authorized_keys, user_data).apply(
            lambda values: {"ssh_authorized_keys": values[0], "user_data": values[1]}
        )

        instance = oci.core.Instance(
            f"{name}-instance",
            compartment_id=args.compartment_id,
            availability_domain=args.placement.availability_domain,
            display_name=f"{args.project.name_prefix}-server",
            shape=args.instance.shape,
            shape_config=oci.core.InstanceShapeConfigArgs(
                ocpus=args.instance.ocpus, memory_in_gbs=args.instance.memory_gb
            ),
            source_details=oci.core.InstanceSourceDetailsArgs(
                source_type="image",
                source_id=args.placement.image_id,
                boot_volume_size_in_gbs=str(args.instance.boot_volume_gb),
            ),
            create_vnic_details=oci.core.InstanceCreateVnicDetailsArgs(
                subnet_id=args.subnet_id,
                # The public address is a reserved one (below), so it survives instance replacement.
                assign_public_ip="false",
                display_name=f"{args.project.name_prefix}-vnic",
            ),
            metadata=pulumi.Output.secret(metadata),
            # The Compute agent's metrics, which the instance's silence alarm watches.
            agent_config=oci.core.InstanceAgentConfigArgs(is_monitoring_disabled=False),
            # Only IMDS v2 (its Authorization header), which the OCI CLI's instance principal uses.
            instance_options=oci.core.InstanceInstanceOptionsArgs(are_legacy_imds_endpoints_disabled=True),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.project.protect,
                delete_before_replace=args.instance.delete_before_replace,
                # A newer image or edited first-boot data must not rebuild a running server;
                # day-2 changes are the rollout's.
                ignore_changes=["metadata", "sourceDetails.sourceId"],
            ),
        )

        attachments = oci.core.get_vnic_attachments_output(
            compartment_id=args.compartment_id, instance_id=instance.id, opts=child_invoke
        )
        vnic_id = attachments.vnic_attachments.apply(lambda found: found[0].vnic_id)
        private_ips = oci.core.get_private_ips_output(vnic_id=vnic_id, opts=child_invoke)
        private_ip_id = private_ips.private_ips.apply(_primary)
        reserved_ip = oci.core.PublicIp(
            f"{name}-public-ip",
            compartment_id=args.compartment_id,
            lifetime="RESERVED",
            private_ip_id=private_ip_id,
            display_name=f"{args.project.name_prefix}-ip",
            # The address is in DNS and in the app's environment: losing it costs the most.
            opts=pulumi.ResourceOptions(parent=self, protect=args.project.protect),
        )

        self.deploy_user = args.deploy_user
        self.instance_id = instance.id
        self.public_ip = reserved_ip.ip_address
        self.deploy_private_key = pulumi.Output.secret(deploy_key.private_key_openssh)
        self.host_public_key = host_key.public_key_openssh
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "public_ip": self.public_ip,
                "deploy_private_key": self.deploy_private_key,
                "host_public_key": self.host_public_key,
            }
        )

    def ssh_target(self) -> SshTarget:
        """How the rollout reaches this server; a replaced instance re-waits for its boot."""
        return SshTarget(
            self.public_ip,
            self.deploy_user,
            self.deploy_private_key,
            self.host_public_key,
            self.instance_id,
            self.public_ip,
        )


def _primary(found: Sequence[oci.core.outputs.GetPrivateIpsPrivateIpResult]) -> str:
    """The VNIC's primary private address, which the reserved public IP is assigned to."""
    primary = [ip.id for ip in found if ip.is_primary]
    if len(primary) != 1:
        raise ValueError(f"the server's VNIC lists {len(primary)} primary private IPs, expected one")
    return primary[0]
