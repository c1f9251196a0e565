"""Fault injection: the whole stack under charger, broker, process, clock and disk faults."""
