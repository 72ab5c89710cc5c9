"""One module per `warmstart` command; each exposes register(subparsers)."""
