"""arena slice."""
