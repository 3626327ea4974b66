"""web slice."""
