"""report slice."""
