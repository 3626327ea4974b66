"""store slice."""
