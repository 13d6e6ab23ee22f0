"""The sync network's certificates: a dedicated certificate authority, the
broker's server certificate, and one client certificate per device (and per
ingest worker), made with ``cryptography``. Mosquitto takes the client
certificate's common name as the MQTT username (``use_identity_as_username``),
so a device's identity is its certificate, and the ACL
(``deploy/mosquitto/acl``) lets device ``1201`` publish only under
``cc/v1/dev/1201/``.

Files (PEM): ``ca.crt`` / ``ca.key``, ``<name>.crt`` / ``<name>.key``;
private keys are written with mode 0600. Keys are ECDSA P-256.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import DeviceError

CA_DAYS = 3650
LEAF_DAYS = 825


class PkiError(DeviceError):
    """A certificate or key cannot be made, read or written; the cause is chained."""


@dataclass(frozen=True)
class Issued:
    certificate: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "citizencard"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PkiError(f"{path} exists; refusing to overwrite a private key") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _load(directory: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        certificate = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise PkiError(f"{directory}: no usable certificate authority (run `citizencard pki init`): {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{directory}/ca.key is not an EC key")
    return certificate, key


def init_ca(directory: Path, *, name: str = "citizencard sync CA", now: dt.datetime | None = None) -> Issued:
    """A new certificate authority in ``directory``.

    :raises PkiError: when one is already there.
    """
    directory.mkdir(parents=True, exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(directory / "ca.key", key)
    (directory / "ca.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Issued(directory / "ca.crt", directory / "ca.key")


def issue(directory: Path, common_name: str, *, server_names: tuple[str, ...] = (),
          now: dt.datetime | None = None) -> Issued:
    """A certificate signed by the authority in ``directory``: a server
    certificate when ``server_names`` (DNS names or IP addresses) are given,
    else a client certificate whose common name is the MQTT username.

    :raises PkiError: without an authority, or when the files exist.
    """
    ca_certificate, ca_key = _load(directory)
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(ca_certificate.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if server_names:
        alt: list[x509.GeneralName] = []
        for entry in server_names:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                alt.append(x509.DNSName(entry))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    certificate = builder.sign(ca_key, hashes.SHA256())
    stem = common_name.replace("/", "_")
    _write_key(directory / f"{stem}.key", key)
    (directory / f"{stem}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Issued(directory / f"{stem}.crt", directory / f"{stem}.key")
