"""Allow ``python -m pcbforge``."""

from pcbforge.cli import main

main()
