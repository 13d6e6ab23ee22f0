"""The wire protocol shared by field devices and the server (the only part of
:mod:`device` the server imports): message dataclasses, one codec at the edge
(a signed JSON envelope), and the MQTT topic tree."""
