"""`python -m flet_storage`: the `flet-storage` command."""

from .cli import main

raise SystemExit(main())
