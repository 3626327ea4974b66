"""provenance/formats slice."""
