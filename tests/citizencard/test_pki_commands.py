"""`citizencard pki` as an operator sets up the sync network's certificates."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID


def _common_name(path: Path) -> str:
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def test_ca_broker_and_clients(run, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    assert run("pki", "init", pki).exit_code == 0
    result = run("pki", "broker", pki, "--name", "localhost", "--name", "127.0.0.1")
    assert result.exit_code == 0, result.output
    for identity in ("1201", "ingest"):
        assert run("pki", "client", pki, identity).exit_code == 0
    assert _common_name(pki / "1201.crt") == "1201"
    broker = x509.load_pem_x509_certificate((pki / "broker.crt").read_bytes())
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert (pki / "ingest.key").stat().st_mode & 0o077 == 0


def test_refusals(run, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    run("pki", "init", pki)
    again = run("pki", "init", pki)
    assert again.exit_code == 1 and "refusing to overwrite" in again.output
    bad = run("pki", "client", pki, "../etc")
    assert bad.exit_code == 2 and "a device id" in bad.output
    missing = run("pki", "client", tmp_path / "none", "7")
    assert missing.exit_code == 1 and "no usable certificate authority" in missing.output
