"""Simulated Alfen charger (a real pymodbus TCP server) and simulated Victron site."""
