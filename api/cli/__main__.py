"""``python -m api.cli`` is ``cityshield``."""

from api.cli import main

main()
