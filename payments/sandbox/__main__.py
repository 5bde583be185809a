"""``python -m payments.sandbox``: the same as ``portal sandbox``."""

from payments.sandbox.cli import sandbox_command

sandbox_command()
