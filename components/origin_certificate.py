"""A Cloudflare Origin CA certificate for the served hostnames, with its key made here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_tls as tls

from model.edge import OriginCertSpec


@dataclass(frozen=True)
class OriginCertificateArgs:
    hostnames: Sequence[str]
    spec: OriginCertSpec


class OriginCertificate(pulumi.ComponentResource):
    certificate_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]

    def __init__(self, name: str, args: OriginCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:edge:OriginCertificate", name, None, opts)
        hostnames = list(args.hostnames)
        renewal = f"{args.spec.rotation}:{','.join(hostnames)}"

        key = (
            tls.PrivateKey(
                f"{name}-key",
                algorithm="ECDSA",
                ecdsa_curve="P256",
                opts=pulumi.ResourceOptions(parent=self, replacement_trigger=renewal),
            )
            if args.spec.request_type == "origin-ecc"
            else tls.PrivateKey(
                f"{name}-key",
                algorithm="RSA",
                rsa_bits=2048,
                opts=pulumi.ResourceOptions(parent=self, replacement_trigger=renewal),
            )
        )
        request = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=key.private_key_pem,
            dns_names=hostnames,
            subject=tls.CertRequestSubjectArgs(
                common_name=hostnames[0], organization="FlowSpace", serial_number=str(args.spec.rotation)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        certificate = cloudflare.OriginCaCertificate(
            f"{name}-certificate",
            csr=request.cert_request_pem,
            # Sorted: the API answers them in its own order and the provider's Read keeps that, while
            # a change of the list replaces the certificate (terraform-provider-cloudflare #6239, #5392).
            hostnames=sorted(hostnames),
            request_type=args.spec.request_type,
            requested_validity=args.spec.validity_days,
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.certificate_pem = certificate.certificate
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.expires_on = certificate.expires_on
        self.register_outputs(
            {
                "certificate_pem": self.certificate_pem,
                "private_key_pem": self.private_key_pem,
                "expires_on": self.expires_on,
            }
        )
