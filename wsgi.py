"""Production entry point: ``gunicorn wsgi:app`` (gunicorn.conf.py is picked up from here)."""

import sys

from portal import create_app
from portal.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"AR Portal cannot start: {exc}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the master stops instead of respawning
