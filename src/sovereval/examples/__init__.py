"""Example data shipped with the package (written for sovereval; fictional)."""
