"""``python -m isrcdb``."""

from isrcdb.cli import main

main()
