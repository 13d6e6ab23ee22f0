"""Card dump files: the raw 1024-byte image of a MIFARE Classic 1K.

This is the binary format of libnfc's ``nfc-mfclassic``, proxmark3's ``.bin``
and MIFARE Classic Tool's ``.mfd`` export: block ``n`` at offset ``16 * n``,
sector trailers holding the keys the dumping tool knew. A dump is a card at
rest, so it is saved atomically: a crash mid-save leaves the old card or the
new one, never half of each.
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from pathlib import Path

from card_layout.geometry import CARD_SIZE
from hardware.errors import DumpError

CLASSIC_4K_SIZE = 4096
# A new dump holds the card's keys: readable by its owner only.
NEW_DUMP_MODE = 0o600


def _check_size(path: os.PathLike[str] | str, size: int) -> None:
    if size == CARD_SIZE:
        return
    if size == CLASSIC_4K_SIZE:
        raise DumpError(f"dump {os.fspath(path)}: {size} bytes is a MIFARE Classic 4K dump, not 1K")
    raise DumpError(f"dump {os.fspath(path)}: {size} bytes, a MIFARE Classic 1K dump is exactly {CARD_SIZE}")


def load_dump(path: os.PathLike[str] | str) -> bytes:
    """The 1024-byte card image stored in ``path``.

    :raises DumpError: when the file is missing or unreadable (the ``OSError``
        is the cause) or is not exactly 1024 bytes long.
    """
    try:
        image = Path(path).read_bytes()
    except OSError as exc:
        raise DumpError(f"dump {os.fspath(path)}: cannot read: {exc.strerror or exc}") from exc
    _check_size(path, len(image))
    return image


def save_dump(path: os.PathLike[str] | str, image: bytes) -> None:
    """Write ``image`` to ``path`` atomically: a temporary file in the same
    directory, flushed and fsynced, then renamed over ``path``. An existing
    dump keeps its permissions; a new one is created readable by its owner only.

    :raises DumpError: when ``image`` is not 1024 bytes, or the file cannot be
        written (the ``OSError`` is the cause); ``path`` is then unchanged.
    """
    _check_size(path, len(image))
    target = Path(path)
    directory = target.parent
    try:
        mode = target.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_DUMP_MODE
    except OSError as exc:
        raise DumpError(f"dump {target}: cannot write: {exc.strerror or exc}") from exc
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(image)
            tmp.flush()
            os.fchmod(tmp.fileno(), mode)
            os.fsync(tmp.fileno())
        os.replace(tmp_name, target)
        tmp_name = None
        _fsync_directory(directory)
    except OSError as exc:
        raise DumpError(f"dump {target}: cannot write: {exc.strerror or exc}") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(path: os.PathLike[str] | str, older_than: float = 5.0) -> int:
    """Delete the temporary files a process killed in the middle of
    :func:`save_dump` left beside ``path`` (older than ``older_than`` seconds,
    so a save in flight in another process is left alone); their count."""
    target = Path(path)
    removed = 0
    cutoff = time.time() - older_than
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < cutoff:
                leftover.unlink()
                removed += 1
    return removed
