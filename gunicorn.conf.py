"""gunicorn settings for ``gunicorn wsgi:app``; override any of them on the command line."""

import os

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
errorlog = "-"
# Pay-link tokens are redacted from every access and error log line.
logger_class = "portal.logs.GunicornLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
