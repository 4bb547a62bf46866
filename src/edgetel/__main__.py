"""`python -m edgetel`."""

from edgetel.cli import main

raise SystemExit(main())
