"""Flask extensions shared by the blueprints (created here, bound in ``create_app``)."""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect

csrf = CSRFProtect()

# Storage comes from RATELIMIT_STORAGE_URI, set by create_app: memory:// per worker by default,
# Redis (PORTAL_REDIS_URL) to share counters between workers and hosts.
limiter = Limiter(key_func=get_remote_address, default_limits=[], strategy="fixed-window")
