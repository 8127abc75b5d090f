"""pcbforge.crawler.spiders."""
