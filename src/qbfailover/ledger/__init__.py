"""Where every item is written down first: the Ledger interface, its backends, the seed's queue file."""
