"""JSON Schemas: the config file and every MQTT payload. Load them with ``common.schemas``."""

from pathlib import Path

SCHEMA_DIR = Path(__file__).resolve().parent
