"""``make demo``: the whole system against the simulated charger and site, under one supervisor."""
