"""The web UI and JSON API (Flask, served by waitress): reads state from MQTT, sends commands
over MQTT, never talks Modbus. ``python -m ui --config FILE``."""
