"""The key store: a small TOML file of master secrets, readable only by the
device's user (mode 0600, refused when group or others may read it, as ssh
does for private keys). A validator's file holds no ``key_b``, so nothing on a
validator can raise a balance::

    # citizencard master secrets: keep secret, mode 0600
    format = 1
    role = "issuer"          # issuer | validator
    key_a = "<32 hex digits>"
    key_b = "<32 hex digits>" # issuer only
    mac = "<32 hex digits>"
"""

from __future__ import annotations

import os
import secrets
import stat
import tomllib
from pathlib import Path

from card_layout.errors import KeyMaterialError
from card_layout.keys import MASTER_SIZE, MasterKeys

from .errors import KeyStoreError

FORMAT = 1
ROLES = ("issuer", "validator")


def generate(role: str = "issuer") -> MasterKeys:
    """Fresh random master secrets for ``role`` (issuer holds key B, validator does not)."""
    if role not in ROLES:
        raise KeyStoreError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    keys = MasterKeys(key_a=secrets.token_bytes(MASTER_SIZE), mac=secrets.token_bytes(MASTER_SIZE),
                      key_b=secrets.token_bytes(MASTER_SIZE))
    return keys if role == "issuer" else keys.validator_subset()


def render(keys: MasterKeys) -> str:
    role = "issuer" if keys.can_credit else "validator"
    lines = [
        "# citizencard master secrets: keep secret, mode 0600",
        f"format = {FORMAT}",
        f'role = "{role}"',
        f'key_a = "{keys.key_a.hex()}"',
    ]
    if keys.key_b is not None:
        lines.append(f'key_b = "{keys.key_b.hex()}"')
    lines.append(f'mac = "{keys.mac.hex()}"')
    return "\n".join(lines) + "\n"


def save(path: os.PathLike[str] | str, keys: MasterKeys, *, overwrite: bool = False) -> Path:
    """Write ``keys`` to ``path`` with mode 0600 from the first byte on.

    :raises KeyStoreError: when the file exists (and ``overwrite`` is false) or
        cannot be written.
    """
    target = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(target, flags, 0o600)
    except FileExistsError:
        raise KeyStoreError(f"{target} exists; refusing to overwrite master secrets") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot write {target}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(render(keys))
        handle.flush()
        os.fsync(handle.fileno())
    return target


def _secret(table: dict[str, object], name: str, path: Path) -> bytes | None:
    value = table.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise KeyStoreError(f"{path}: {name} must be a string of {2 * MASTER_SIZE} hex digits")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyStoreError(f"{path}: {name} is not hexadecimal") from None
    if len(raw) != MASTER_SIZE:
        raise KeyStoreError(f"{path}: {name} must be {MASTER_SIZE} bytes ({2 * MASTER_SIZE} hex digits)")
    return raw


def load(path: os.PathLike[str] | str, *, role: str | None = None) -> MasterKeys:
    """Read a key file. With ``role="validator"`` only the validator's subset is kept.

    :raises KeyStoreError: when the file is missing, readable by others,
        malformed, or lacks a secret.
    """
    source = Path(path)
    try:
        mode = source.stat().st_mode
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyStoreError(f"key file {source} not found (create one with 'citizencard keys init')") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"cannot read key file {source}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyStoreError(f"key file {source} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
                            f"run: chmod 600 {source}")
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeyStoreError(f"{source} is not valid TOML: {exc}") from exc
    if table.get("format") != FORMAT:
        raise KeyStoreError(f"{source}: unsupported key file format {table.get('format')!r} (expected {FORMAT})")
    key_a, key_b, mac = (_secret(table, name, source) for name in ("key_a", "key_b", "mac"))
    if key_a is None or mac is None:
        raise KeyStoreError(f"{source}: key_a and mac are required")
    try:
        keys = MasterKeys(key_a=key_a, mac=mac, key_b=key_b)
    except KeyMaterialError as exc:
        raise KeyStoreError(f"{source}: {exc}") from exc
    return keys.validator_subset() if role == "validator" else keys
