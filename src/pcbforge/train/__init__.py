"""pcbforge.train."""
