"""Command line: python -m fer_core {train,evaluate,predict} ..."""

from .cli import main

raise SystemExit(main())
