"""Modbus TCP -> MQTT bridge for Alfen NG9xx chargers: the only Modbus master in the system."""
