"""The cluster's certificates: one CA, the identities it issues, and the ServiceAccount key pair.

Every component, and each of our add-ons, gets its own client certificate, so the audit log
tells them apart (the Kubernetes user is the certificate's CN, its groups the O fields).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650


@dataclass(frozen=True)
class Identity:
    """A certificate the CA issues: file stem, common name, groups, server names."""

    stem: str
    cn: str
    groups: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    server: bool = False
    client: bool = True
    extra: dict[str, str] = field(default_factory=dict)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int = VALID_DAYS) -> x509.CertificateBuilder:
    """What the CA and every certificate it issues have in common."""
    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


class Pki:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_crt = self.dir / "ca.crt"
        self.ca_key = self.dir / "ca.key"

    def ensure_ca(self) -> None:
        if self.ca_crt.exists() and self.ca_key.exists():
            return
        key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "px-cluster-ca")])
        cert = (
            _builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        _write_key(self.ca_key, key)
        self.ca_crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def paths(self, stem: str) -> tuple[Path, Path]:
        return self.dir / f"{stem}.crt", self.dir / f"{stem}.key"

    def issue(self, ident: Identity) -> tuple[Path, Path]:
        """Issues the identity's certificate once (kept across restarts)."""
        crt, keyfile = self.paths(ident.stem)
        if crt.exists() and keyfile.exists():
            return crt, keyfile
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), None)
        ca_cert = x509.load_pem_x509_certificate(self.ca_crt.read_bytes())
        key = _key()
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in ident.groups]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, ident.cn))
        usages = ([ExtendedKeyUsageOID.CLIENT_AUTH] if ident.client else []) + (
            [ExtendedKeyUsageOID.SERVER_AUTH] if ident.server else []
        )
        builder = (
            _builder(x509.Name(attrs), ca_cert.subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in ident.dns]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ident.ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write_key(keyfile, key)
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return crt, keyfile

    def ensure_service_account_keys(self) -> tuple[Path, Path]:
        pub, priv = self.dir / "sa.pub", self.dir / "sa.key"
        if not (pub.exists() and priv.exists()):
            key = _key()
            _write_key(priv, key)
            pub.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        return pub, priv
