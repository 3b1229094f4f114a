"""The control plane under /_sim: health, world info, reset, clock, journal, faults, webhook knobs, the event
stream and its own docs. Providers add their /_sim/<provider> routes through the provider contract."""
