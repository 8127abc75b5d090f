"""pcbforge.datasets."""
