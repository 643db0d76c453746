"""One module per `liveavatar` verb; each exposes `register(subparsers)` (see liveavatar/cli.py)."""
