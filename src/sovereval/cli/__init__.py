"""cli slice."""
