"""A small web-style helper with real weaknesses, for `codetune-lsp check examples/`."""

import os
import sqlite3
import subprocess


def find_user(db: sqlite3.Connection, name: str):
    # CWE-89: the name is pasted into the SQL text
    return db.execute(f"SELECT * FROM users WHERE name = '{name}'").fetchall()


def read_upload(filename: str) -> bytes:
    # CWE-22: "../" in filename escapes the upload folder
    with open(os.path.join("/srv/uploads", filename), "rb") as handle:
        return handle.read()


def ping(host: str) -> int:
    # CWE-78: host goes through a shell
    return subprocess.call(f"ping -c 1 {host}", shell=True)
