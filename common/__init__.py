"""Pieces every process shares: topics, config, schemas, MQTT link, atomic files, logging."""
