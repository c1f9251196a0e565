"""The D-Bus shim: mirrors the bridge's MQTT state onto ``com.victronenergy.evcharger.alfen_<n>``.

It runs on the GX (system bus) and makes the Alfen a native charger for the GUI and VRM; GX writes
(mode, start/stop, currents) become MQTT commands for the controller. ``paths.py`` is the one
table of D-Bus paths; ``busitem.py`` is our ``com.victronenergy.BusItem`` implementation, used where
Victron's velib_python ``vedbus`` is not importable.
"""
