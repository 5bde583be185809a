"""``python -m stripe_sandbox``: the same as ``portal sandbox``."""

from stripe_sandbox.cli import sandbox_command

sandbox_command()
