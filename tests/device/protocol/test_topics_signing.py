"""The topic tree and the Ed25519 key files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device.protocol import topics
from device.protocol.errors import MalformedMessageError, SignatureError
from device.protocol.signing import (
    generate,
    load_private,
    load_public,
    public_bytes,
    public_from_bytes,
    save_private,
    save_public,
    sign,
    verify,
)


def test_device_topics_live_under_the_device_subtree() -> None:
    assert topics.tx_topic(1201) == "cc/v1/dev/1201/tx"
    assert topics.device_list_topic(7, "denylist") == "cc/v1/dev/7/list/denylist"
    assert topics.broadcast_list_topic("loads") == "cc/v1/lists/loads"
    assert topics.parse_device_topic("cc/v1/dev/1201/status") == (1201, "status")
    assert topics.parse_device_topic(topics.device_list_topic(3, "config")) == (3, "list/config")
    assert topics.ingest_subscriptions() == ("$share/ingest/cc/v1/dev/+/tx", "$share/ingest/cc/v1/dev/+/status",
                                             "$share/ingest/cc/v1/dev/+/list-request")
    assert "cc/v1/lists/+" in topics.device_subscriptions(5)


@pytest.mark.parametrize("topic", ["cc/v2/dev/1/tx", "cc/v1/dev/x/tx", "cc/v1/lists/denylist", "cc/v1/dev", ""])
def test_topics_outside_the_device_tree_are_refused(topic: str) -> None:
    with pytest.raises(MalformedMessageError):
        topics.parse_device_topic(topic)


def test_key_files_and_signatures(tmp_path: Path) -> None:
    key = generate()
    path = save_private(tmp_path / "device.key", key)
    assert os.stat(path).st_mode & 0o777 == 0o600
    loaded = load_private(path)
    assert public_bytes(loaded.public_key()) == public_bytes(key.public_key())
    signature = sign(loaded, b"batch")
    verify(public_from_bytes(public_bytes(key.public_key())), signature, b"batch")
    with pytest.raises(SignatureError):
        verify(key.public_key(), signature, b"other batch")
    with pytest.raises(FileExistsError):
        save_private(path, generate())
    (tmp_path / "junk.key").write_text("junk")
    with pytest.raises(SignatureError, match="not a readable"):
        load_private(tmp_path / "junk.key")
    with pytest.raises(SignatureError):
        public_from_bytes(b"short")


def test_public_key_files(tmp_path: Path) -> None:
    key = generate()
    path = save_public(tmp_path / "server.pub", key)  # the public half of a private key
    assert public_bytes(load_public(path)) == public_bytes(key.public_key())
    save_public(tmp_path / "again.pub", key.public_key())
    assert public_bytes(load_public(tmp_path / "again.pub")) == public_bytes(key.public_key())
    with pytest.raises(FileExistsError):
        save_public(path, generate())
    with pytest.raises(SignatureError, match="not a readable"):
        load_public(tmp_path / "missing.pub")
    save_private(tmp_path / "private.key", key)
    with pytest.raises(SignatureError, match="not a readable"):
        load_public(tmp_path / "private.key")  # a private key is not a public key file
