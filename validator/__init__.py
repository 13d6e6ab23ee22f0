"""The tap engine and the validator apps (bus, bike dock, EV charger):
everything decided offline from the card, the fare table and the device's lists."""
