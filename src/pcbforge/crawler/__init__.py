"""pcbforge.crawler."""
