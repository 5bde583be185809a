"""Where things are, for tests that read the repository's files."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository
