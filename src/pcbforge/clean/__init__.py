"""pcbforge.clean."""
