"""Network: the VCN's ranges and who may reach SSH."""

from __future__ import annotations

from dataclasses import dataclass

from config import checks
from config.keys import Key
from config.reader import Reader
from model.ports import SSH, SshAccess

VCN_CIDR = Key("vcnCidr", "string", "CIDR", "VCN address space", "10.0.0.0/16", default="10.0.0.0/16")
SUBNET_CIDR = Key(
    "subnetCidr", "string", "CIDR", "public subnet, inside `vcnCidr`", "10.0.1.0/24", default="10.0.1.0/24"
)
SSH_ALLOWED_CIDRS = Key(
    "sshAllowedCidrs",
    "array",
    "list of CIDR",
    "who may reach SSH (key only, no passwords). The rollout connects over SSH, so include where `pulumi up` runs",
    "'[\"203.0.113.7/32\"]'",
    default=("0.0.0.0/0",),
)
ADMIN_SSH_PUBLIC_KEYS = Key(
    "adminSshPublicKeys",
    "array",
    "list of OpenSSH keys",
    "extra keys for `ubuntu`, besides the generated deploy key (read at first boot only)",
    "'[\"ssh-ed25519 AAAA... you@host\"]'",
    default=(),
)
KEYS = (VCN_CIDR, SUBNET_CIDR, SSH_ALLOWED_CIDRS, ADMIN_SSH_PUBLIC_KEYS)


@dataclass(frozen=True)
class NetworkConfig:
    vcn_cidr: str
    subnet_cidr: str
    ssh_allowed_cidrs: tuple[str, ...]
    admin_ssh_public_keys: tuple[str, ...]
    # An existing server's targetPort; the created server's sshd listens on 22.
    ssh_port: int = SSH.first

    @property
    def ssh(self) -> SshAccess:
        return SshAccess(self.ssh_allowed_cidrs, self.ssh_port)


def read_network(reader: Reader) -> NetworkConfig:
    vcn_cidr = reader.text(VCN_CIDR) or ""
    subnet_cidr = reader.text(SUBNET_CIDR) or ""
    vcn = checks.cidr(reader, VCN_CIDR, vcn_cidr, VCN_CIDR.example)
    subnet = checks.cidr(reader, SUBNET_CIDR, subnet_cidr, SUBNET_CIDR.example)
    if vcn is not None and subnet is not None and not subnet.subnet_of(vcn):
        reader.problem(SUBNET_CIDR, f"{subnet_cidr} is not inside vcnCidr {vcn_cidr}")
    ssh_cidrs = reader.strings(SSH_ALLOWED_CIDRS)
    if not ssh_cidrs:
        reader.problem(SSH_ALLOWED_CIDRS, "is empty: the rollout needs SSH")
    for block in ssh_cidrs:
        checks.cidr(reader, SSH_ALLOWED_CIDRS, block, "203.0.113.7/32")
    admin_keys = reader.strings(ADMIN_SSH_PUBLIC_KEYS)
    for key in admin_keys:
        checks.openssh_public_key(reader, ADMIN_SSH_PUBLIC_KEYS, key)
    return NetworkConfig(vcn_cidr, subnet_cidr, ssh_cidrs, admin_keys)
