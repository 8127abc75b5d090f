"""Worker entry point: ``python -m pcbforge.crawler.run <config.json>`` (see :mod:`pcbforge.crawler.runner`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pcbforge.crawler.runner import worker_main


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m pcbforge.crawler.run <config.json>", file=sys.stderr)
        return 2
    return worker_main(json.loads(Path(args[0]).read_text()))


if __name__ == "__main__":
    sys.exit(main())
