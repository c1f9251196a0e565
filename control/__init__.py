"""The controller: decides the charging current (MANUAL / AUTO / SCHEDULED); pure core, thin runner."""
