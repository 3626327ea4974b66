"""ledger slice."""
