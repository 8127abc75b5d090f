"""pcbforge.catalog."""
