"""The signed envelope: round trips for every message type, and every refusal."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.protocol import messages as m
from device.protocol.codec import MAX_MESSAGE_BYTES, SERVER_SIGNER, canonical, decode, device_signer, encode
from device.protocol.errors import (
    MalformedMessageError,
    OversizedMessageError,
    ProtocolError,
    SignatureError,
    UnsupportedVersionError,
)
from device.protocol.signing import generate

DEVICE_KEY, SERVER_KEY, OTHER_KEY = generate(), generate(), generate()
KEYS = {device_signer(1201): DEVICE_KEY.public_key(), SERVER_SIGNER: SERVER_KEY.public_key()}

ints = st.integers(min_value=-(2**53), max_value=2**53)
counts = st.integers(min_value=0, max_value=2**32)
text = st.text(max_size=20)
json_values = st.recursive(st.none() | st.booleans() | ints | text,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
                           max_leaves=8)
details = st.dictionaries(text, json_values, max_size=4)
entries = st.builds(m.EntryRecord, counts, counts, text, st.sampled_from(["intent", "done", "aborted"]), text,
                    st.none() | st.from_regex(r"\A[0-9A-F]{8}\Z"), st.none() | counts, st.none() | counts,
                    st.none() | counts, ints, st.none() | ints, text, text, details)
messages = st.one_of(
    st.builds(m.TxBatch, counts, text, st.lists(entries, max_size=5).map(tuple)),
    st.builds(m.Ack, counts, text, st.lists(st.builds(m.AckedRange, counts, counts, counts), max_size=5).map(tuple)),
    st.builds(m.Status, counts, st.booleans(), text, st.dictionaries(st.sampled_from(m.LIST_NAMES), counts), counts,
              counts),
    st.builds(m.ListRequest, counts, st.sampled_from(m.LIST_NAMES), counts, text),
    st.builds(m.ListUpdate, st.sampled_from(m.LIST_NAMES), st.booleans(), st.none() | counts, counts, text,
              st.none() | counts, st.lists(details, max_size=3).map(tuple), st.lists(details, max_size=3).map(tuple)),
)


@settings(max_examples=200)
@given(messages)
def test_every_message_round_trips(message: m.Message) -> None:
    raw = encode(message, SERVER_KEY, SERVER_SIGNER)
    assert decode(raw, KEYS.get) == (SERVER_SIGNER, message)


@settings(max_examples=50)
@given(messages, st.data())
def test_any_changed_byte_is_refused(message: m.Message, data: st.DataObject) -> None:
    raw = bytearray(encode(message, DEVICE_KEY, device_signer(1201)))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(ProtocolError):
        decode(bytes(raw), KEYS.get)


def _envelope(**changes: object) -> bytes:
    message = m.ListRequest(1201, "denylist", 3, "2026-11-21T08:00:00Z")
    doc = json.loads(encode(message, DEVICE_KEY, device_signer(1201)))
    doc.update(changes)
    return canonical(doc)


def _resigned(body: dict, type_: str = "list_request", v: int = 1, key=DEVICE_KEY, signer: str = "device:1201"):
    import base64

    core = {"v": v, "type": type_, "signer": signer, "body": body}
    return canonical({**core, "sig": base64.b64encode(key.sign(canonical(core))).decode()})


GOOD_BODY = {"device_id": 1201, "list": "denylist", "held_version": 3, "sent_at": "t"}


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"not json", MalformedMessageError, "not JSON"),
        (b"[1, 2]", MalformedMessageError, "not an envelope"),
        (_envelope(extra=1), MalformedMessageError, "not an envelope"),
        (_resigned(GOOD_BODY, v=2), UnsupportedVersionError, "protocol version 2"),
        (_resigned(GOOD_BODY, type_="shutdown"), MalformedMessageError, "unknown message type"),
        (_resigned(GOOD_BODY, signer="device:9"), SignatureError, "unknown signer"),
        (_resigned(GOOD_BODY, key=OTHER_KEY), SignatureError, "does not verify"),
        (_envelope(sig="!!"), SignatureError, "not 64 bytes"),
        (_resigned({**GOOD_BODY, "held_version": "3"}), MalformedMessageError, "ListRequest.held_version"),
        (_resigned({**GOOD_BODY, "held_version": True}), MalformedMessageError, "held_version"),
        (_resigned({k: v for k, v in GOOD_BODY.items() if k != "list"}), MalformedMessageError, "missing ['list']"),
        (_resigned({**GOOD_BODY, "admin": True}), MalformedMessageError, "unknown ['admin']"),
        (b" " * (MAX_MESSAGE_BYTES + 1), OversizedMessageError, "exceed"),
    ],
)
def test_refusals_say_what_is_wrong(raw: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode(raw, KEYS.get)


def test_a_batch_too_big_to_send_is_refused_at_the_sender() -> None:
    entry = m.EntryRecord(1, 0, "bus", "done", "t", None, None, None, None, 0, None, "a", "a", {"x": "y" * 1000})
    with pytest.raises(OversizedMessageError, match="exceeds"):
        encode(m.TxBatch(1, "t", (entry,) * 300), DEVICE_KEY, device_signer(1))
