"""pcbforge.annotate."""
