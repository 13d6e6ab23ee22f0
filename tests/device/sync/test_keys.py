"""The agent's key and certificate files, checked before it starts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from device.config import SyncSection
from device.errors import SyncKeyError
from device.pki import init_ca, issue
from device.protocol.signing import generate, save_private, save_public
from device.sync.keys import load_keys, tls_context


@pytest.fixture
def sync(tmp_path: Path) -> SyncSection:
    save_private(tmp_path / "sync.key", generate())
    save_public(tmp_path / "server.pub", generate())
    return SyncSection(signing_key=tmp_path / "sync.key", server_key=tmp_path / "server.pub")


def test_plain_tcp_needs_the_two_signing_keys(sync: SyncSection) -> None:
    keys = load_keys(sync)
    assert keys.tls is None
    assert keys.signing.public_key() is not None and keys.server is not None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s, d: replace(s, signing_key=d / "none.key"), r"\[sync\] signing_key: .*none.key does not exist "
                                                              r"\(write one with: citizencard keys sync"),
        (lambda s, d: replace(s, server_key=d / "none.pub"), r"\[sync\] server_key: .*none.pub does not exist"),
        (lambda s, d: replace(s, signing_key=s.server_key), r"\[sync\] signing_key: .*not a readable Ed25519 private"),
        (lambda s, d: replace(s, server_key=s.signing_key), r"\[sync\] server_key: .*not a readable Ed25519 public"),
        (lambda s, d: replace(s, signing_key=d), r"\[sync\] signing_key: cannot read"),
    ],
)
def test_missing_or_wrong_keys_are_named(sync: SyncSection, tmp_path: Path, change, message: str) -> None:
    with pytest.raises(SyncKeyError, match=message):
        load_keys(change(sync, tmp_path))


def test_tls_files(sync: SyncSection, tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    init_ca(pki)
    issue(pki, "1201")
    issue(pki, "1202")
    tls = replace(sync, ca=pki / "ca.crt", cert=pki / "1201.crt", key=pki / "1201.key")
    assert tls_context(tls) is not None and load_keys(tls).tls is not None
    with pytest.raises(SyncKeyError, match=r"\[sync\] ca: .*ca.crt does not exist"):
        tls_context(replace(tls, ca=tmp_path / "ca.crt"))
    with pytest.raises(SyncKeyError, match=r"\[sync\] key: .*does not exist"):
        tls_context(replace(tls, key=pki / "1203.key"))
    with pytest.raises(SyncKeyError, match=r"\[sync\] ca: .*is not a PEM certificate"):
        tls_context(replace(tls, ca=sync.signing_key))
    with pytest.raises(SyncKeyError, match=r"\[sync\] cert, key: .*are not a PEM certificate and its private key"):
        tls_context(replace(tls, key=pki / "1202.key"))  # another certificate's key
