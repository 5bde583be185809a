"""gunicorn settings for ``gunicorn wsgi:app``; override any of them on the command line."""

import os

bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, because a webhook may wait on Stripe (100-300 ms in production) to read a payment's
# current state: a sync worker would sit idle meanwhile, with customers' pages queued behind.
worker_class = "gthread"
threads = int(os.environ.get("PORTAL_THREADS", "4"))
accesslog = "-"
errorlog = "-"
# Pay-link tokens are redacted from every access and error log line.
logger_class = "portal.logs.GunicornLogger"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
