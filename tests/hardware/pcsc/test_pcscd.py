"""The private pcscd: it lists its vpcd reader, refuses to start beside a
live pcscd, and comes back on the same port after a kill -9 (stale socket)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from hardware.errors import ReaderUnavailableError
from hardware.pcsc.pcscd import COMM_SOCKET, Pcscd, system_pcscd_running


def test_pcscd_running_says_whether_something_answers(tmp_path: Path) -> None:
    path = tmp_path / "pcscd.comm"
    assert not system_pcscd_running(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(1)
        assert system_pcscd_running(path)
    # a socket file nobody listens on any more: stale, not running
    assert path.exists() and not system_pcscd_running(path)


def test_the_private_pcscd_lists_its_reader(pcscd: Pcscd) -> None:
    from smartcard import scard

    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, readers = scard.SCardListReaders(context, [])
    finally:
        scard.SCardReleaseContext(context)
    assert pcscd.reader_name == "Virtual PCD 00 00"
    assert pcscd.reader_name in readers
    assert system_pcscd_running()
    conf = pcscd.log_path.parent / "reader.conf.d" / "vpcd"  # type: ignore[union-attr]
    assert f"CHANNELID 0x{pcscd.port:04X}" in conf.read_text()


def test_a_second_pcscd_is_refused_while_one_runs(pcscd: Pcscd) -> None:
    with pytest.raises(ReaderUnavailableError, match="another pcscd is running") as refused:
        Pcscd().start()
    assert f"kill {pcscd.pid}" in str(refused.value)  # ours: the message says which process to end
    assert pcscd.running


def test_after_a_kill_the_stale_socket_is_cleared_and_pcscd_comes_back(pcscd: Pcscd) -> None:
    port, pid = pcscd.port, pcscd.pid
    pcscd.kill()
    assert COMM_SOCKET.exists() and not system_pcscd_running()  # what a crash leaves
    pcscd.start()
    assert pcscd.running and pcscd.pid != pid and pcscd.port == port
    assert system_pcscd_running()
