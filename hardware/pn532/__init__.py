"""A PN532 over its serial (HSU) interface, in nfcpy's layers: :mod:`.frames`
(pure framing), :mod:`.transport` (the serial line), :mod:`.chipset` (the
datasheet's commands), :mod:`.mifare` (MIFARE Classic over InDataExchange,
shared with the nfcpy backend) and :mod:`.reader` (the ``pn532:`` reader);
:mod:`.emulator` is a PN532 behind a pseudo-terminal for tests and demos.

Submodules import pyserial; this package itself imports nothing, so
``hardware.pn532`` can be named without the optional dependency.
"""
