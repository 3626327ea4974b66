"""review slice."""
