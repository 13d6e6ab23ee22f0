"""The PC/SC backend (pyscard) and its emulator.

- :mod:`hardware.pcsc.apdu`: the PC/SC part 3 pseudo-APDUs of an ACR122U-class
  contactless reader for MIFARE Classic (pure codecs, no pyscard);
- :mod:`hardware.pcsc.reader`: :class:`~hardware.pcsc.reader.PcscReader`, the
  ``pcsc:`` reader (needs pyscard, the ``pcsc`` extra);
- :mod:`hardware.pcsc.vcard`: a virtual card for vsmartcard's vpcd driver,
  answering as an ACR122U does for a simulated field;
- :mod:`hardware.pcsc.pcscd`: a private pcscd with the vpcd driver, for
  tests, benchmarks and the demo.

Nothing is imported here, so the codecs and the emulator work without pyscard.
"""
