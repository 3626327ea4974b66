"""sovereval: runs a national sovereign-AI foundation-model competition end to end."""

__version__ = "0.1.0"
