"""pcbforge.augment."""
