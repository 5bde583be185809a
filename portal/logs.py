"""Keep pay-link tokens out of every log: Flask's, werkzeug's and gunicorn's.

Tokens are capabilities: anyone who reads a log line with one can pay, view and download the
invoice. Paths like ``/i/<token>`` and ``/s/<token>`` are rewritten to ``/i/[redacted]`` before
a record is formatted, including in exception text and in gunicorn's access-log atoms.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger as _GunicornLogger

_TOKEN_PATH = re.compile(r"/([is])/[A-Za-z0-9_%-]{16,}")


def redact(text: str) -> str:
    """Replace every pay-link token in ``text`` with ``[redacted]``."""
    return _TOKEN_PATH.sub(r"/\1/[redacted]", text)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the message, its arguments and any exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite ``record`` in place; never drops it."""
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install(*loggers: logging.Logger) -> None:
    """Attach the filter to ``loggers`` and to every handler they and the root logger have."""
    flt = RedactingFilter()
    for logger in (*loggers, logging.getLogger()):
        if flt.__class__ not in {type(f) for f in logger.filters}:
            logger.addFilter(flt)
        for handler in logger.handlers:
            if flt.__class__ not in {type(f) for f in handler.filters}:
                handler.addFilter(flt)


class GunicornLogger(_GunicornLogger):
    """gunicorn's logger with tokens redacted from access-log atoms and error messages.

    Selected by ``logger_class`` in ``gunicorn.conf.py``.
    """

    def setup(self, cfg) -> None:
        """Configure as usual, then filter the error log."""
        super().setup(cfg)
        install(self.error_log)

    def atoms(self, resp, req, environ, request_time):
        """The access-log fields, every one of them redacted (request line, path, referer…)."""
        values = super().atoms(resp, req, environ, request_time)
        return {k: redact(v) if isinstance(v, str) else v for k, v in values.items()}
