"""Upload and lookup helpers: parameterised SQL, a checked upload path, no shell."""

import sqlite3
import subprocess
from pathlib import Path

UPLOADS = Path("/srv/uploads")


def find_user(db: sqlite3.Connection, name: str):
    return db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchall()


def read_upload(filename: str) -> bytes:
    path = (UPLOADS / filename).resolve()
    if not path.is_relative_to(UPLOADS):
        raise ValueError("the file is outside the upload folder")
    return path.read_bytes()


def ping(host: str) -> int:
    return subprocess.call(["ping", "-c", "1", "--", host])
