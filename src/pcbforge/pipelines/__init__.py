"""DVC stage entry points: ``run(params, **options) -> summary``, one module per stage.

A stage module reads its section of the typed params, calls library code with plain
values and writes its declared outputs (atomically, with a Parquet manifest). It
returns a one-line summary that the CLI prints, naming where the results are.
"""
