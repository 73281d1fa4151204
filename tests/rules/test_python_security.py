"""The python-security rule set: which code it reports, under which CWE, and what it leaves."""

from __future__ import annotations

import textwrap

import pytest

from codetune_lsp.rules import covers, scan


def hits_of(source: str) -> list[tuple[int, str]]:
    return [(h.line, h.rule) for h in scan(textwrap.dedent(source), "python", ["python-security"])]


# Each case: code, then the (line, CWE) pairs it must report. Written for these tests.
REPORTED = {
    "sql built with format": (
        """
        def orders(cursor, customer):
            cursor.execute("SELECT id FROM orders WHERE customer = '{}'".format(customer))
        """,
        [(3, "CWE-89")],
    ),
    "shell with an argument": (
        """
        import subprocess

        def convert(source):
            subprocess.run("convert " + source + " out.png", shell=True)
        """,
        [(5, "CWE-78")],
    ),
    "path from a view's query string": (
        """
        from flask import request

        def report():
            name = request.args.get("report")
            with open("/var/reports/" + name) as handle:
                return handle.read()
        """,
        [(6, "CWE-22")],
    ),
    "path joined from a parameter through a local": (
        """
        import os

        def thumbnail(image_name):
            target = os.path.join("/srv/thumbs", image_name)
            os.unlink(target)
        """,
        [(6, "CWE-22")],
    ),
    "tar members written where they say": (
        """
        import tarfile

        def restore(backup, folder):
            archive = tarfile.open(backup)
            archive.extractall(folder)
        """,
        [(6, "CWE-22")],
    ),
    "URL from the caller": (
        """
        import httpx

        def mirror(feed_url):
            return httpx.get(feed_url).text
        """,
        [(5, "CWE-918")],
    ),
    "host from the caller inside a URL": (
        """
        import requests

        def health(node):
            return requests.get("https://" + node + ":8443/health").status_code
        """,
        [(5, "CWE-918")],
    ),
    "module named by a parameter": (
        """
        import importlib

        def driver(kind):
            return importlib.import_module("drivers." + kind)
        """,
        [(5, "CWE-94")],
    ),
    "template source from the request": (
        """
        from flask import request
        from jinja2 import Environment

        def banner():
            return Environment().from_string("<h1>" + request.form["title"] + "</h1>").render()
        """,
        [(6, "CWE-94")],
    ),
    "entity resolution asked of lxml": (
        """
        from lxml import etree

        def feed(data):
            return etree.fromstring(data, etree.XMLParser(load_dtd=True))
        """,
        [(5, "CWE-611")],
    ),
    "literal signing secret": (
        """
        CLIENT_SECRET = "q8Zt2vLm9Xw4Rb7N"
        """,
        [(2, "CWE-798")],
    ),
    "path object joined from a parameter": (
        """
        from pathlib import Path

        REPORTS = Path("/srv/reports")

        def report(name):
            target = REPORTS / name
            return target.read_bytes()
        """,
        [(8, "CWE-22")],
    ),
    "upload saved under its own name": (
        """
        import os

        def store(upload, folder):
            upload.save(os.path.join(folder, upload.filename))
        """,
        [(5, "CWE-22")],
    ),
    "asyncio shell": (
        """
        import asyncio

        async def lookup(domain):
            return await asyncio.create_subprocess_shell(f"whois {domain}")
        """,
        [(5, "CWE-78")],
    ),
    "client session fetching a caller's URL": (
        """
        import aiohttp

        async def fetch(address):
            async with aiohttp.ClientSession() as session:
                async with session.get(address) as response:
                    return await response.text()
        """,
        [(6, "CWE-918")],
    ),
    "client kept on the instance": (
        """
        import urllib3

        class Mirror:
            def __init__(self):
                self.pool = urllib3.PoolManager()

            def pull(self, origin):
                return self.pool.request("GET", origin + "/index.json")
        """,
        [(9, "CWE-918")],
    ),
    "yaml unsafe_load": (
        """
        import yaml

        def settings(text):
            return yaml.unsafe_load(text)
        """,
        [(5, "CWE-502")],
    ),
    "TLS 1.0 context": (
        """
        import ssl

        def context():
            return ssl.SSLContext(ssl.PROTOCOL_TLSv1)
        """,
        [(5, "CWE-327")],
    ),
    "query built in a variable, run later": (
        """
        def search(cur, term):
            query = "SELECT id FROM notes WHERE body LIKE '%" + term + "%'"
            cur.execute(query)
        """,
        [(3, "CWE-89")],
    ),
    "pickle of a request body (bandit)": (
        """
        import pickle

        def restore(body):
            return pickle.loads(body)
        """,
        [(5, "CWE-502")],
    ),
}

# Code a careful developer writes: nothing may be reported.
CLEAN = {
    "parameterised query": """
        def orders(cursor, customer):
            cursor.execute("SELECT id FROM orders WHERE customer = ?", (customer,))
        """,
    "argument vector, no shell": """
        import subprocess

        def convert(source):
            subprocess.run(["convert", source, "out.png"], check=True)
        """,
    "identifier checked against an allowlist": """
        COLUMNS = {"name", "created"}

        def ordered(cursor, column):
            if column not in COLUMNS:
                raise ValueError(column)
            cursor.execute("SELECT id FROM items ORDER BY " + column)
        """,
    "basename before joining": """
        import os

        def thumbnail(image_name):
            os.unlink(os.path.join("/srv/thumbs", os.path.basename(image_name)))
        """,
    "resolved path checked against its folder": """
        import os

        ROOT = "/srv/thumbs"

        def thumbnail(image_name):
            target = os.path.realpath(os.path.join(ROOT, image_name))
            if not target.startswith(ROOT + os.sep):
                raise PermissionError(image_name)
            os.unlink(target)
        """,
    "a path the caller gives whole": """
        def count_lines(path):
            with open(path, encoding="utf-8") as handle:
                return sum(1 for _ in handle)
        """,
    "tar extraction with the data filter": """
        import tarfile

        def restore(backup, folder):
            with tarfile.open(backup) as archive:
                archive.extractall(folder, filter="data")
        """,
    "URL with a fixed host": """
        import requests

        def user(user_id):
            return requests.get(f"https://api.example.com/users/{user_id}", timeout=5).json()
        """,
    "URL host checked first": """
        from urllib.parse import urlparse

        import httpx

        ALLOWED = {"feeds.example.com"}

        def mirror(feed_url):
            if urlparse(feed_url).hostname not in ALLOWED:
                raise PermissionError(feed_url)
            return httpx.get(feed_url, timeout=5).text
        """,
    "module looked up in a table": """
        import importlib

        DRIVERS = {"pg": "drivers.postgres", "lite": "drivers.sqlite"}

        def driver(kind):
            return importlib.import_module(DRIVERS[kind])
        """,
    "entity resolution off": """
        from lxml import etree

        def feed(data):
            return etree.fromstring(data, etree.XMLParser(resolve_entities=False))
        """,
    "secret from the environment, ordinary constants": """
        import os

        CLIENT_SECRET = os.environ["CLIENT_SECRET"]
        SORT_KEY = "created_at"
        CACHE_KEY = "user:{id}:v2"
        """,
    "host looked up in a table with get": """
        import requests

        HOSTS = {"eu": "eu.api.example.com", "us": "us.api.example.com"}

        def quote(region):
            host = HOSTS.get(region)
            if host is None:
                raise KeyError(region)
            return requests.get(f"https://{host}/quote", timeout=5).json()
        """,
    "URL built from a checked host": """
        from urllib.parse import urlsplit

        import requests

        TRUSTED = {"id.example.com"}

        def discover(issuer):
            parts = urlsplit(issuer)
            if parts.hostname not in TRUSTED:
                raise ValueError(issuer)
            url = f"https://{parts.hostname}/.well-known/openid-configuration"
            return requests.get(url, timeout=5).json()
        """,
    "f-string with nothing interpolated": """
        def remove(con, item_id):
            con.execute(f"DELETE FROM items WHERE id = ?", (item_id,))
        """,
    "imports of risky modules are not findings": """
        import pickle
        import subprocess
        import xml.sax
        """,
}


@pytest.mark.parametrize("name", sorted(REPORTED))
def test_reports_the_weakness_on_its_line(name: str) -> None:
    source, expected = REPORTED[name]
    assert hits_of(source) == expected


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_reports_nothing_in_safe_code(name: str) -> None:
    assert hits_of(CLEAN[name]) == []


def test_each_hit_says_what_found_it_and_how_to_fix_it() -> None:
    (hit,) = scan(
        textwrap.dedent(REPORTED["URL from the caller"][0]), "python", ["python-security"]
    )
    assert hit.check == "codetune ssrf"
    assert hit.severity == "warning"  # a caller's argument, not request data
    assert "allowlist" in hit.message
    (bandit,) = scan(
        textwrap.dedent(REPORTED["shell with an argument"][0]), "python", ["python-security"]
    )
    assert bandit.check == "bandit B602" and bandit.severity == "error"


def test_request_data_reaching_a_sink_is_an_error() -> None:
    source = REPORTED["path from a view's query string"][0]
    (hit,) = scan(textwrap.dedent(source), "python", ["python-security"])
    assert hit.severity == "error"


def test_nosec_comment_silences_bandit() -> None:
    source = (
        "import subprocess\n\ndef go(x):\n    subprocess.call('ls ' + x, shell=True)  # nosec\n"
    )
    assert hits_of(source) == []


def test_text_that_does_not_parse_has_no_hits() -> None:
    assert hits_of("def broken(:\n    os.system('rm ' + x)\n") == []


def test_other_languages_and_rule_sets_are_not_scanned() -> None:
    shell = "os.system('rm ' + x)"
    assert scan(shell, "javascript", ["python-security"]) == []
    assert scan(shell, "python", []) == []
    assert covers(["python-security"], "python")
    assert not covers(["python-security"], "go")


def test_a_query_built_in_a_variable_is_reported_through_the_call_that_runs_it() -> None:
    source = REPORTED["query built in a variable, run later"][0]
    (hit,) = scan(textwrap.dedent(source), "python", ["python-security"])
    assert (hit.line, hit.end_line) == (3, 4)
