"""provenance slice."""
