"""The Scrapy crawler behind the ``crawl`` stage (its only user).

:mod:`~pcbforge.crawler.runner` runs each crawl in a worker process
(:mod:`~pcbforge.crawler.run`) and turns its journal into the manifest; the spiders,
item pipelines, middlewares and downloader settings follow Scrapy's own layout.
"""
