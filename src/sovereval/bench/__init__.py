"""bench slice."""
