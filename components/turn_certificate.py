"""TURN/TLS's publicly trusted certificate: a Let's Encrypt (ACME) certificate for the DNS-only
TURN hostname, proved by a DNS-01 challenge in the Cloudflare zone, with its key made here.

A DNS challenge needs nothing from the host (80 and 443 stay locked to the edge), so the
certificate exists before the first release. An `up` within `RENEW_DAYS_BEFORE_EXPIRY` of the
expiry (or when the CA's renewal information asks) renews it, and the release carries it to LiveKit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_tls as tls
import pulumiverse_acme as acme

RENEW_DAYS_BEFORE_EXPIRY = 30


@dataclass(frozen=True)
class TurnCertificateArgs:
    hostname: str
    acme_server: str
    acme_email: str
    cloudflare_token: pulumi.Input[str]


class TurnCertificate(pulumi.ComponentResource):
    hostname: str
    certificate_chain_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    expires_on: pulumi.Output[str]

    def __init__(self, name: str, args: TurnCertificateArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:edge:TurnCertificate", name, None, opts)
        self.hostname = args.hostname
        child = pulumi.ResourceOptions(parent=self)
        provider = acme.Provider(f"{name}-acme", server_url=args.acme_server, opts=child)
        with_acme = pulumi.ResourceOptions(parent=self, provider=provider)

        account_key = tls.PrivateKey(f"{name}-account-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        account = acme.Registration(
            f"{name}-account",
            account_key_pem=account_key.private_key_pem,
            email_address=args.acme_email,
            opts=with_acme,
        )
        key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{name}-csr",
            private_key_pem=key.private_key_pem,
            dns_names=[args.hostname],
            subject=tls.CertRequestSubjectArgs(common_name=args.hostname),
            opts=child,
        )
        certificate = acme.Certificate(
            f"{name}-certificate",
            account_key_pem=account.account_key_pem,
            certificate_request_pem=request.cert_request_pem,
            dns_challenges=[
                acme.CertificateDnsChallengeArgs(
                    provider="cloudflare",
                    config={"CF_DNS_API_TOKEN": pulumi.Output.secret(args.cloudflare_token)},
                )
            ],
            min_days_remaining=RENEW_DAYS_BEFORE_EXPIRY,
            use_renewal_info=True,
            opts=with_acme,
        )

        # Clients get the chain up to, not including, the root they already trust.
        self.certificate_chain_pem = pulumi.Output.concat(certificate.certificate_pem, certificate.issuer_pem)
        self.private_key_pem = pulumi.Output.secret(key.private_key_pem)
        self.expires_on = certificate.certificate_not_after
        self.register_outputs(
            {
                "certificate_chain_pem": self.certificate_chain_pem,
                "private_key_pem": self.private_key_pem,
                "expires_on": self.expires_on,
            }
        )
