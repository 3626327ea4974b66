"""competition slice."""
