"""The citizen-card application's records: typed dataclasses and their byte
codecs. Every record starts with a version byte and ends with an 8-byte MAC
(see :mod:`card_layout.mac`); decoding checks both."""
