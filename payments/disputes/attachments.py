"""Files a customer sends with a dispute: checked by their content (never by the name or the
browser's word), limited in size and number, and stored outside the web root under random
names that only staff pages turn back into downloads.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MAX_FILES = 3
MAX_BYTES = 4 * 1024 * 1024  # per file
# Magic numbers: a file is what its first bytes say, or it is refused.
SIGNATURES = ((b"%PDF-", "application/pdf", ".pdf"),
              (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
              (b"\xff\xd8\xff", "image/jpeg", ".jpg"))
EXTENSION = {mime: ext for _magic, mime, ext in SIGNATURES}


class AttachmentError(ValueError):
    """A file that may not be attached; the message is for the customer."""


@dataclass(frozen=True)
class Upload:
    """A file as the customer sent it."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    """An upload that passed: its type by content, a clean name, its digest."""

    filename: str
    content_type: str
    data: bytes
    sha256: str


def sniff(data: bytes) -> str | None:
    """The allowed type ``data`` really is (PDF, PNG or JPEG), or None."""
    for magic, mime, _ext in SIGNATURES:
        if data.startswith(magic):
            return mime
    return None


def clean_name(filename: str, content_type: str) -> str:
    """A display name safe for any header or file system, ending in its real type's
    extension ("../../x.exe" that is a PDF becomes "x.pdf")."""
    stem = Path(filename.replace("\\", "/")).name
    stem = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", stem)
    stem = re.sub(r"[^A-Za-z0-9 ._-]+", "-", stem).strip(" .-")[:80] or "attachment"
    return stem + EXTENSION[content_type]


def check(uploads: Iterable[Upload]) -> list[Checked]:
    """Every upload checked, or :class:`AttachmentError` naming the first one refused."""
    uploads = list(uploads)
    if len(uploads) > MAX_FILES:
        raise AttachmentError(f"Attach at most {MAX_FILES} files")
    checked = []
    for upload in uploads:
        shown = Path(upload.filename.replace("\\", "/")).name or "a file"
        if not upload.data:
            raise AttachmentError(f"{shown} is empty")
        if len(upload.data) > MAX_BYTES:
            raise AttachmentError(f"{shown} is larger than {MAX_BYTES // (1024 * 1024)} MB")
        mime = sniff(upload.data)
        if mime is None:
            raise AttachmentError(f"{shown} is not a PDF, PNG or JPEG file")
        checked.append(Checked(clean_name(upload.filename, mime), mime, upload.data,
                               hashlib.sha256(upload.data).hexdigest()))
    return checked


class AttachmentStore:
    """A folder of attachment files named by random ids (no customer text in any path)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def save(self, data: bytes) -> str:
        """Write ``data`` (atomically, readable by this user only); return its stored name."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = secrets.token_hex(16)
        fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.root / name)
        return name

    def read(self, stored_name: str) -> bytes:
        """The file's bytes (``FileNotFoundError`` when it is gone)."""
        if not re.fullmatch(r"[0-9a-f]{32}", stored_name):
            raise FileNotFoundError(stored_name)
        return (self.root / stored_name).read_bytes()

    def discard(self, stored_names: Iterable[str]) -> None:
        """Remove files whose rows were never committed."""
        for name in stored_names:
            (self.root / name).unlink(missing_ok=True)
