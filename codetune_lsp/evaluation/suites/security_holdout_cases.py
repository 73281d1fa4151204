# ruff: noqa: E501  (data: source lines of the snippets)
"""Held-out labelled security cases, written for this project as an evaluation set kept
apart from ``security_cases.py``: a vulnerable snippet per case and its fixed twin. In the
vulnerable text, ``#<`` at a line's end marks the weak lines (the marker is removed before
the model sees the code; the marked lines are the span).

The cases were written by pattern, not by copying text, from the CWE entries'
"Demonstrative Examples" and "Potential Mitigations" (cwe.mitre.org,
CWE-22/78/89/94/327/328/330/502/611/798/918) and the OWASP Cheat Sheets (OS Command
Injection Defense, Query Parameterization, SQL Injection Prevention, Path Traversal / File
Upload, Server-Side Template Injection, Deserialization, Secrets Management, Cryptographic
Storage, Transport Layer Security, XXE Prevention, SSRF Prevention). They use different
APIs, frameworks and code shapes from the cases in ``security_cases.py`` (class methods,
web request objects, tainted values flowing through intermediate variables) so that they
test generalisation rather than recall. The snippets are never executed; third-party
imports only need to parse.
"""

from __future__ import annotations

# (case id, CWE, source, vulnerable code with #< marks, fixed code)
HOLDOUT_CASES: list[tuple[str, str, str, str, str]] = [
    # -- CWE-78 OS command injection ------------------------------------------------------
    (
        "cmd-getoutput-git",
        "CWE-78",
        "CWE-78 demonstrative examples; OWASP OS Command Injection Defense",
        '''\
import subprocess


def branch_history(repo_dir, branch):
    """Return the one-line log of a branch for the release-notes tool."""
    command = 'git -C ' + repo_dir + ' log --oneline ' + branch
    output = subprocess.getoutput(command)  #<
    return output.splitlines()
''',
        '''\
import subprocess


def branch_history(repo_dir, branch):
    """Return the one-line log of a branch for the release-notes tool."""
    result = subprocess.run(
        ['git', '-C', repo_dir, 'log', '--oneline', '--end-of-options', branch],
        capture_output=True, text=True, check=True,
    )
    return result.stdout.splitlines()
''',
    ),
    (
        "cmd-django-popen-class",
        "CWE-78",
        "CWE-78 demonstrative examples",
        '''\
import subprocess

from django.http import JsonResponse
from django.views import View


class ThumbnailView(View):
    """Create a thumbnail for an image that was already uploaded."""

    def post(self, request):
        name = request.POST['image']
        src = f'/srv/media/{name}'
        dst = f'/srv/media/thumbs/{name}'
        proc = subprocess.Popen(f'convert {src} -resize 200x200 {dst}', shell=True)  #<
        return JsonResponse({'ok': proc.wait() == 0})
''',
        '''\
import os
import subprocess

from django.http import JsonResponse
from django.views import View


class ThumbnailView(View):
    """Create a thumbnail for an image that was already uploaded."""

    def post(self, request):
        name = os.path.basename(request.POST['image'])
        if not name or name.startswith('.'):
            return JsonResponse({'ok': False}, status=400)
        src = os.path.join('/srv/media', name)
        dst = os.path.join('/srv/media/thumbs', name)
        proc = subprocess.run(['convert', src, '-resize', '200x200', dst], check=False)
        return JsonResponse({'ok': proc.returncode == 0})
''',
    ),
    (
        "cmd-asyncio-shell",
        "CWE-78",
        "OWASP OS Command Injection Defense (argument lists, input allowlist)",
        """\
import asyncio

from fastapi import FastAPI

app = FastAPI()


@app.get('/tools/whois')
async def whois(domain: str):
    proc = await asyncio.create_subprocess_shell(f'whois {domain}', stdout=asyncio.subprocess.PIPE)  #<
    out, _ = await proc.communicate()
    return {'domain': domain, 'whois': out.decode(errors='replace')}
""",
        """\
import asyncio
import re

from fastapi import FastAPI, HTTPException

app = FastAPI()
DOMAIN_RE = re.compile(r'[A-Za-z0-9][A-Za-z0-9-]*([.][A-Za-z0-9-]+)+')


@app.get('/tools/whois')
async def whois(domain: str):
    if not DOMAIN_RE.fullmatch(domain):
        raise HTTPException(status_code=400, detail='invalid domain')
    proc = await asyncio.create_subprocess_exec('whois', domain, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return {'domain': domain, 'whois': out.decode(errors='replace')}
""",
    ),
    # -- CWE-89 SQL injection ---------------------------------------------------------------
    (
        "sql-django-raw",
        "CWE-89",
        "CWE-89 demonstrative examples; OWASP Query Parameterization",
        """\
from django.shortcuts import render

from shop.models import Product


def category_page(request):
    category = request.GET.get('category', 'all')
    sql = "SELECT * FROM shop_product WHERE category = '{}' AND active".format(category)
    products = Product.objects.raw(sql)  #<
    return render(request, 'shop/category.html', {'products': products})
""",
        """\
from django.shortcuts import render

from shop.models import Product


def category_page(request):
    category = request.GET.get('category', 'all')
    products = Product.objects.filter(category=category, active=True)
    return render(request, 'shop/category.html', {'products': products})
""",
    ),
    (
        "sql-sqlalchemy-text",
        "CWE-89",
        "OWASP Query Parameterization (bind parameters)",
        '''\
from sqlalchemy import text


class OrderRepository:
    """Data access for the orders table."""

    def __init__(self, session):
        self.session = session

    def orders_for(self, customer_email, status):
        rows = self.session.execute(text(f"SELECT id, total FROM orders WHERE email = '{customer_email}' AND status = '{status}'"))  #<
        return [dict(row._mapping) for row in rows]
''',
        '''\
from sqlalchemy import text


class OrderRepository:
    """Data access for the orders table."""

    def __init__(self, session):
        self.session = session

    def orders_for(self, customer_email, status):
        query = text('SELECT id, total FROM orders WHERE email = :email AND status = :status')
        rows = self.session.execute(query, {'email': customer_email, 'status': status})
        return [dict(row._mapping) for row in rows]
''',
    ),
    (
        "sql-psycopg2-like",
        "CWE-89",
        "CWE-89 demonstrative examples; OWASP SQL Injection Prevention",
        '''\
def search_articles(conn, term, limit=20):
    """Title search used by the admin search box."""
    query = "SELECT id, title FROM articles WHERE title ILIKE '%" + term + "%' LIMIT " + str(limit)
    with conn.cursor() as cur:
        cur.execute(query)  #<
        return cur.fetchall()
''',
        '''\
def search_articles(conn, term, limit=20):
    """Title search used by the admin search box."""
    query = 'SELECT id, title FROM articles WHERE title ILIKE %s LIMIT %s'
    with conn.cursor() as cur:
        cur.execute(query, ('%' + term + '%', int(limit)))
        return cur.fetchall()
''',
    ),
    # -- CWE-22 path traversal --------------------------------------------------------------
    (
        "path-tar-extractall",
        "CWE-22",
        "CWE-22 demonstrative examples (archive extraction); Python tarfile extraction filters",
        '''\
import tarfile


def install_theme(bundle_path, themes_dir):
    """Unpack a user-uploaded theme bundle into the themes directory."""
    with tarfile.open(bundle_path, 'r:gz') as bundle:
        bundle.extractall(themes_dir)  #<
    return themes_dir
''',
        '''\
import tarfile


def install_theme(bundle_path, themes_dir):
    """Unpack a user-uploaded theme bundle into the themes directory."""
    with tarfile.open(bundle_path, 'r:gz') as bundle:
        bundle.extractall(themes_dir, filter='data')
    return themes_dir
''',
    ),
    (
        "path-fastapi-pathlib",
        "CWE-22",
        "CWE-22 potential mitigations (canonicalize, then check containment)",
        """\
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import Response

app = FastAPI()
REPORTS = Path('/var/lib/app/reports')


@app.get('/reports/{name:path}')
def get_report(name: str):
    report = REPORTS / name
    return Response(report.read_bytes(), media_type='application/pdf')  #<
""",
        """\
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import Response

app = FastAPI()
REPORTS = Path('/var/lib/app/reports').resolve()


@app.get('/reports/{name:path}')
def get_report(name: str):
    report = (REPORTS / name).resolve()
    if not report.is_relative_to(REPORTS) or not report.is_file():
        raise HTTPException(status_code=404)
    return Response(report.read_bytes(), media_type='application/pdf')
""",
    ),
    (
        "path-upload-save-class",
        "CWE-22",
        "OWASP File Upload / Path Traversal (server-side file names)",
        '''\
import os


class AttachmentStore:
    """Saves ticket attachments under a per-ticket folder."""

    def __init__(self, root):
        self.root = root

    def save(self, ticket_id, upload):
        folder = os.path.join(self.root, str(ticket_id))
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, upload.filename)
        upload.save(target)  #<
        return target
''',
        '''\
import os

from werkzeug.utils import secure_filename


class AttachmentStore:
    """Saves ticket attachments under a per-ticket folder."""

    def __init__(self, root):
        self.root = root

    def save(self, ticket_id, upload):
        folder = os.path.join(self.root, str(int(ticket_id)))
        filename = secure_filename(upload.filename or '')
        if not filename:
            raise ValueError('invalid attachment name')
        os.makedirs(folder, exist_ok=True)
        target = os.path.join(folder, filename)
        upload.save(target)
        return target
''',
    ),
    # -- CWE-94 code injection ------------------------------------------------------------
    (
        "code-render-template-string",
        "CWE-94",
        "OWASP Server-Side Template Injection; CWE-1336",
        """\
from flask import Flask, render_template_string, request

app = Flask(__name__)


@app.errorhandler(404)
def page_not_found(error):
    page = f'<h1>Not found</h1><p>No page at {request.path}</p>'
    return render_template_string(page), 404  #<
""",
        """\
from flask import Flask, render_template_string, request

app = Flask(__name__)


@app.errorhandler(404)
def page_not_found(error):
    page = '<h1>Not found</h1><p>No page at {{ path }}</p>'
    return render_template_string(page, path=request.path), 404
""",
    ),
    (
        "code-compile-formula",
        "CWE-94",
        "CWE-94/95 demonstrative examples; potential mitigations (parse, do not evaluate)",
        '''\
class FormulaCell:
    """A spreadsheet cell whose value is computed from other cells."""

    def __init__(self, formula):
        self.formula = formula

    def value(self, cells):
        code = compile(self.formula, '<cell>', 'eval')  #<
        return eval(code, {'__builtins__': {}}, dict(cells))  #<
''',
        '''\
import ast
import operator

OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
       ast.Div: operator.truediv, ast.USub: operator.neg}


class FormulaCell:
    """A spreadsheet cell whose value is computed from other cells."""

    def __init__(self, formula):
        self.formula = formula

    def value(self, cells):
        return self._evaluate(ast.parse(self.formula, mode='eval').body, cells)

    def _evaluate(self, node, cells):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name) and node.id in cells:
            return cells[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](self._evaluate(node.left, cells), self._evaluate(node.right, cells))
        if isinstance(node, ast.UnaryOp) and type(node.op) in OPS:
            return OPS[type(node.op)](self._evaluate(node.operand, cells))
        raise ValueError('unsupported formula')
''',
    ),
    (
        "code-eval-sort-key",
        "CWE-94",
        "CWE-95 demonstrative examples; OWASP Injection Prevention (allowlist)",
        """\
from flask import jsonify, request

from reports.data import load_rows


def revenue_report():
    rows = load_rows()
    sort_expr = request.args.get('sort', "row['name']")
    sort_key = eval('lambda row: ' + sort_expr)  #<
    return jsonify(sorted(rows, key=sort_key))
""",
        """\
import operator

from flask import abort, jsonify, request

from reports.data import load_rows

SORTABLE = {'name', 'revenue', 'region', 'created'}


def revenue_report():
    rows = load_rows()
    column = request.args.get('sort', 'name')
    if column not in SORTABLE:
        abort(400)
    return jsonify(sorted(rows, key=operator.itemgetter(column)))
""",
    ),
    # -- CWE-502 deserialization --------------------------------------------------------------
    (
        "deser-jsonpickle-cookie",
        "CWE-502",
        "CWE-502 demonstrative examples; OWASP Deserialization (use data-only formats)",
        """\
import base64

import jsonpickle
from flask import render_template, request


def dashboard():
    raw = request.cookies.get('prefs', '')
    prefs = jsonpickle.decode(base64.b64decode(raw).decode())  #<
    return render_template('dashboard.html', theme=prefs.get('theme', 'light'))
""",
        """\
import base64
import json

from flask import render_template, request

THEMES = {'light', 'dark'}


def dashboard():
    raw = request.cookies.get('prefs', '')
    try:
        prefs = json.loads(base64.b64decode(raw).decode())
    except ValueError:
        prefs = {}
    theme = prefs.get('theme') if isinstance(prefs, dict) else None
    return render_template('dashboard.html', theme=theme if theme in THEMES else 'light')
""",
    ),
    (
        "deser-yaml-unsafe-load",
        "CWE-502",
        "CWE-502 potential mitigations; OWASP Deserialization (safe loaders)",
        '''\
import yaml


class PipelineConfig:
    """Loads a CI pipeline definition pushed by repository owners."""

    def __init__(self, path):
        with open(path, encoding='utf-8') as handle:
            self.data = yaml.unsafe_load(handle)  #<

    def stages(self):
        return self.data.get('stages', [])
''',
        '''\
import yaml


class PipelineConfig:
    """Loads a CI pipeline definition pushed by repository owners."""

    def __init__(self, path):
        with open(path, encoding='utf-8') as handle:
            self.data = yaml.safe_load(handle) or {}

    def stages(self):
        return self.data.get('stages', [])
''',
    ),
    (
        "deser-torch-load",
        "CWE-502",
        "CWE-502 demonstrative examples (pickle-based model files)",
        '''\
import io

import torch


def load_checkpoint(model, uploaded_bytes):
    """Restore model weights from a checkpoint uploaded through the training UI."""
    buffer = io.BytesIO(uploaded_bytes)
    state = torch.load(buffer, map_location='cpu', weights_only=False)  #<
    model.load_state_dict(state)
    return model
''',
        '''\
from safetensors.torch import load as load_safetensors


def load_checkpoint(model, uploaded_bytes):
    """Restore model weights from a safetensors checkpoint uploaded through the training UI."""
    state = load_safetensors(uploaded_bytes)
    model.load_state_dict(state)
    return model
''',
    ),
    # -- CWE-798 hard-coded credentials -------------------------------------------------------
    (
        "secret-boto3-keys",
        "CWE-798",
        "CWE-798 demonstrative examples; OWASP Secrets Management",
        '''\
import boto3


def upload_backup(path, bucket='nightly-backups'):
    """Push a database dump to S3."""
    s3 = boto3.client(
        's3',
        aws_access_key_id='AKIA4XTRQ7ZP2MVW3LHD',  #<
        aws_secret_access_key='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',  #<
        region_name='eu-west-1',
    )
    s3.upload_file(path, bucket, path.rsplit('/', 1)[-1])
''',
        '''\
import boto3


def upload_backup(path, bucket='nightly-backups'):
    """Push a database dump to S3 (credentials come from the role or environment)."""
    s3 = boto3.client('s3', region_name='eu-west-1')
    s3.upload_file(path, bucket, path.rsplit('/', 1)[-1])
''',
    ),
    (
        "secret-paramiko-class",
        "CWE-798",
        "CWE-798 demonstrative examples",
        '''\
import paramiko


class Deployer:
    """Copies release artifacts to the application servers over SSH."""

    def __init__(self, host):
        self.host = host
        self.client = paramiko.SSHClient()
        self.client.load_system_host_keys()

    def connect(self):
        self.client.connect(self.host, username='deploy', password='Dpl0y#Prod2024')  #<
        return self.client.open_sftp()
''',
        '''\
import os

import paramiko


class Deployer:
    """Copies release artifacts to the application servers over SSH."""

    def __init__(self, host):
        self.host = host
        self.client = paramiko.SSHClient()
        self.client.load_system_host_keys()

    def connect(self):
        self.client.connect(self.host, username='deploy', key_filename=os.environ['DEPLOY_SSH_KEY'])
        return self.client.open_sftp()
''',
    ),
    (
        "secret-smtp-settings",
        "CWE-798",
        "OWASP Secrets Management (no secrets in source or config literals)",
        """\
import smtplib
from email.message import EmailMessage

SMTP_SETTINGS = {
    'host': 'smtp.example.com',
    'port': 587,
    'user': 'alerts@example.com',
    'password': 'mailer-Pa55w0rd!',  #<
}


def send_alert(to, subject, body):
    msg = EmailMessage()
    msg['From'], msg['To'], msg['Subject'] = SMTP_SETTINGS['user'], to, subject
    msg.set_content(body)
    with smtplib.SMTP(SMTP_SETTINGS['host'], SMTP_SETTINGS['port']) as server:
        server.starttls()
        server.login(SMTP_SETTINGS['user'], SMTP_SETTINGS['password'])
        server.send_message(msg)
""",
        """\
import os
import smtplib
from email.message import EmailMessage

SMTP_SETTINGS = {
    'host': 'smtp.example.com',
    'port': 587,
    'user': 'alerts@example.com',
}


def send_alert(to, subject, body):
    msg = EmailMessage()
    msg['From'], msg['To'], msg['Subject'] = SMTP_SETTINGS['user'], to, subject
    msg.set_content(body)
    with smtplib.SMTP(SMTP_SETTINGS['host'], SMTP_SETTINGS['port']) as server:
        server.starttls()
        server.login(SMTP_SETTINGS['user'], os.environ['SMTP_PASSWORD'])
        server.send_message(msg)
""",
    ),
    # -- CWE-327/328 broken or weak crypto ----------------------------------------------------
    (
        "crypto-arc4-cookie",
        "CWE-327",
        "CWE-327 demonstrative examples; OWASP Cryptographic Storage (authenticated encryption)",
        '''\
from Crypto.Cipher import ARC4


def encrypt_cookie(key, payload):
    """Encrypt the remember-me cookie payload."""
    cipher = ARC4.new(key)  #<
    return cipher.encrypt(payload.encode())
''',
        '''\
from Crypto.Cipher import ChaCha20_Poly1305


def encrypt_cookie(key, payload):
    """Encrypt and authenticate the remember-me cookie payload (32-byte key)."""
    cipher = ChaCha20_Poly1305.new(key=key)
    body, tag = cipher.encrypt_and_digest(payload.encode())
    return cipher.nonce + tag + body
''',
    ),
    (
        "crypto-tlsv1-context",
        "CWE-327",
        "CWE-327 potential mitigations; OWASP Transport Layer Security (TLS 1.2+ only)",
        '''\
import socket
import ssl


class SettlementClient:
    """Talks to the settlement gateway over TLS."""

    def __init__(self, host, port=8443):
        self.host, self.port = host, port

    def open(self):
        context = ssl.SSLContext(ssl.PROTOCOL_TLSv1)  #<
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = True
        context.load_verify_locations('/etc/ssl/certs/gateway-ca.pem')
        sock = socket.create_connection((self.host, self.port), timeout=10)
        return context.wrap_socket(sock, server_hostname=self.host)
''',
        '''\
import socket
import ssl


class SettlementClient:
    """Talks to the settlement gateway over TLS."""

    def __init__(self, host, port=8443):
        self.host, self.port = host, port

    def open(self):
        context = ssl.create_default_context(cafile='/etc/ssl/certs/gateway-ca.pem')
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        sock = socket.create_connection((self.host, self.port), timeout=10)
        return context.wrap_socket(sock, server_hostname=self.host)
''',
    ),
    (
        "crypto-md5-firmware",
        "CWE-328",
        "CWE-328 demonstrative examples (collision-prone digest for integrity)",
        '''\
import hashlib


def verify_firmware(image_path, expected_digest):
    """Check a downloaded firmware image against the vendor's published digest."""
    digest = hashlib.new('md5')  #<
    with open(image_path, 'rb') as image:
        for chunk in iter(lambda: image.read(65536), b''):
            digest.update(chunk)
    return digest.hexdigest() == expected_digest
''',
        '''\
import hashlib
import hmac


def verify_firmware(image_path, expected_digest):
    """Check a downloaded firmware image against the vendor's published SHA-256."""
    digest = hashlib.sha256()
    with open(image_path, 'rb') as image:
        for chunk in iter(lambda: image.read(65536), b''):
            digest.update(chunk)
    return hmac.compare_digest(digest.hexdigest(), expected_digest.lower())
''',
    ),
    # -- CWE-330 insufficient randomness -------------------------------------------------------
    (
        "random-uuid1-reset",
        "CWE-330",
        "CWE-330 demonstrative examples (predictable identifiers as secrets)",
        """\
import uuid

from django.core.mail import send_mail

from accounts.models import PasswordReset


def start_password_reset(user):
    token = uuid.uuid1().hex  #<
    PasswordReset.objects.create(user=user, token=token)
    send_mail('Reset your password', f'https://example.com/reset/{token}',
              'noreply@example.com', [user.email])
""",
        """\
import secrets

from django.core.mail import send_mail

from accounts.models import PasswordReset


def start_password_reset(user):
    token = secrets.token_urlsafe(32)
    PasswordReset.objects.create(user=user, token=token)
    send_mail('Reset your password', f'https://example.com/reset/{token}',
              'noreply@example.com', [user.email])
""",
    ),
    (
        "random-sample-password",
        "CWE-330",
        "CWE-330/338 demonstrative examples; potential mitigations (CSPRNG)",
        '''\
import random
import string


class AccountProvisioner:
    """Creates accounts for new employees with a temporary password."""

    ALPHABET = string.ascii_letters + string.digits

    def __init__(self, directory):
        self.directory = directory

    def create(self, username):
        temp_password = ''.join(random.sample(self.ALPHABET, 12))  #<
        self.directory.add_user(username, temp_password, must_change=True)
        return temp_password
''',
        '''\
import secrets
import string


class AccountProvisioner:
    """Creates accounts for new employees with a temporary password."""

    ALPHABET = string.ascii_letters + string.digits

    def __init__(self, directory):
        self.directory = directory

    def create(self, username):
        temp_password = ''.join(secrets.choice(self.ALPHABET) for _ in range(16))
        self.directory.add_user(username, temp_password, must_change=True)
        return temp_password
''',
    ),
    (
        "random-randbytes-key",
        "CWE-330",
        "CWE-330 demonstrative examples (keys from a non-cryptographic PRNG)",
        '''\
import random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def encrypt_export(data):
    """Encrypt a data export; the key is shown to the user once."""
    key = random.randbytes(32)  #<
    nonce = random.randbytes(12)  #<
    return key, nonce + AESGCM(key).encrypt(nonce, data, None)
''',
        '''\
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def encrypt_export(data):
    """Encrypt a data export; the key is shown to the user once."""
    key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    return key, nonce + AESGCM(key).encrypt(nonce, data, None)
''',
    ),
    # -- CWE-611 XXE --------------------------------------------------------------------------
    (
        "xxe-lxml-iterparse",
        "CWE-611",
        "CWE-611 demonstrative examples; OWASP XXE Prevention (lxml)",
        '''\
from lxml import etree


def import_products(feed_file):
    """Stream <product> elements from a supplier's XML feed."""
    products = []
    events = etree.iterparse(feed_file, tag='product', load_dtd=True, resolve_entities=True, no_network=False)  #<
    for _, elem in events:
        products.append({'sku': elem.findtext('sku'), 'name': elem.findtext('name')})
        elem.clear()
    return products
''',
        '''\
from lxml import etree


def import_products(feed_file):
    """Stream <product> elements from a supplier's XML feed."""
    products = []
    events = etree.iterparse(feed_file, tag='product', load_dtd=False, resolve_entities=False, no_network=True)
    for _, elem in events:
        products.append({'sku': elem.findtext('sku'), 'name': elem.findtext('name')})
        elem.clear()
    return products
''',
    ),
    (
        "xxe-dtd-validation",
        "CWE-611",
        "OWASP XXE Prevention (validate against a local schema, not the document's DTD)",
        '''\
from lxml import etree


class InvoiceValidator:
    """Validates partner invoices against the DTD they declare."""

    def __init__(self):
        self.parser = etree.XMLParser(dtd_validation=True, no_network=False)  #<

    def validate(self, xml_bytes):
        try:
            etree.fromstring(xml_bytes, self.parser)
        except etree.XMLSyntaxError as exc:
            return False, str(exc)
        return True, ''
''',
        '''\
from lxml import etree


class InvoiceValidator:
    """Validates partner invoices against our own copy of the invoice DTD."""

    def __init__(self, dtd_path='/srv/schemas/invoice.dtd'):
        self.dtd = etree.DTD(dtd_path)
        self.parser = etree.XMLParser(load_dtd=False, resolve_entities=False, no_network=True)

    def validate(self, xml_bytes):
        try:
            doc = etree.fromstring(xml_bytes, self.parser)
        except etree.XMLSyntaxError as exc:
            return False, str(exc)
        if not self.dtd.validate(doc):
            return False, str(self.dtd.error_log.filter_from_errors())
        return True, ''
''',
    ),
    (
        "xxe-expat-external-handler",
        "CWE-611",
        "CWE-611 demonstrative examples; OWASP XXE Prevention (forbid DTDs)",
        '''\
from urllib.request import urlopen
from xml.parsers import expat


def parse_feed(data, on_start):
    """Parse a partner XML feed, calling on_start(name, attrs) for each element."""
    parser = expat.ParserCreate()

    def load_external(context, base, system_id, public_id):
        child = parser.ExternalEntityParserCreate(context)
        child.Parse(urlopen(system_id).read(), True)  #<
        return 1

    parser.ExternalEntityRefHandler = load_external
    parser.StartElementHandler = on_start
    parser.Parse(data, True)
''',
        '''\
from xml.parsers import expat


def parse_feed(data, on_start):
    """Parse a partner XML feed, calling on_start(name, attrs) for each element."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def reject_dtd(*args):
        raise ValueError('DTDs are not allowed in partner feeds')

    parser.StartDoctypeDeclHandler = reject_dtd
    parser.StartElementHandler = on_start
    parser.Parse(data, True)
''',
    ),
    # -- CWE-918 SSRF ---------------------------------------------------------------------------
    (
        "ssrf-aiohttp-import",
        "CWE-918",
        "CWE-918 demonstrative examples; OWASP SSRF Prevention (allowlist of hosts)",
        """\
import aiohttp
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class ImportRequest(BaseModel):
    source_url: str


@app.post('/calendars/import')
async def import_calendar(body: ImportRequest):
    async with aiohttp.ClientSession() as session:
        async with session.get(body.source_url) as resp:  #<
            ics = await resp.text()
    return {'events': ics.count('BEGIN:VEVENT')}
""",
        """\
from urllib.parse import urlsplit

import aiohttp
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI()
ALLOWED_HOSTS = {'calendar.google.com', 'outlook.office365.com'}


class ImportRequest(BaseModel):
    source_url: str


@app.post('/calendars/import')
async def import_calendar(body: ImportRequest):
    url = urlsplit(body.source_url)
    if url.scheme != 'https' or url.hostname not in ALLOWED_HOSTS:
        raise HTTPException(status_code=400, detail='unsupported calendar host')
    async with aiohttp.ClientSession() as session:
        async with session.get(body.source_url, allow_redirects=False) as resp:
            ics = await resp.text()
    return {'events': ics.count('BEGIN:VEVENT')}
""",
    ),
    (
        "ssrf-oidc-discovery",
        "CWE-918",
        "OWASP SSRF Prevention (tenant-supplied URLs)",
        '''\
import urllib3


class OidcDiscovery:
    """Fetches the OpenID configuration of a tenant's identity provider."""

    def __init__(self):
        self.http = urllib3.PoolManager()

    def configuration(self, issuer):
        url = issuer.rstrip('/') + '/.well-known/openid-configuration'
        resp = self.http.request('GET', url, timeout=5.0)  #<
        return resp.json()
''',
        '''\
from urllib.parse import urlsplit

import urllib3

TRUSTED_ISSUERS = {'login.microsoftonline.com', 'accounts.google.com', 'auth.example.com'}


class OidcDiscovery:
    """Fetches the OpenID configuration of a tenant's identity provider."""

    def __init__(self):
        self.http = urllib3.PoolManager()

    def configuration(self, issuer):
        parts = urlsplit(issuer)
        if parts.scheme != 'https' or parts.hostname not in TRUSTED_ISSUERS:
            raise ValueError(f'untrusted issuer: {issuer}')
        url = f'https://{parts.hostname}{parts.path.rstrip("/")}/.well-known/openid-configuration'
        resp = self.http.request('GET', url, timeout=5.0, redirect=False)
        return resp.json()
''',
    ),
    (
        "ssrf-region-subdomain",
        "CWE-918",
        "CWE-918 demonstrative examples (user input in the host part of a URL)",
        """\
import requests
from django.http import JsonResponse


def shipping_quote(request):
    region = request.GET['region']
    api = f'https://{region}.rates.example.com/v2/quote'
    resp = requests.get(api, params={'weight': request.GET['weight']}, timeout=5)  #<
    return JsonResponse(resp.json())
""",
        """\
import requests
from django.http import JsonResponse

RATE_HOSTS = {'eu': 'eu.rates.example.com', 'us': 'us.rates.example.com', 'ap': 'ap.rates.example.com'}


def shipping_quote(request):
    host = RATE_HOSTS.get(request.GET.get('region', ''))
    if host is None:
        return JsonResponse({'error': 'unknown region'}, status=400)
    resp = requests.get(f'https://{host}/v2/quote', params={'weight': request.GET['weight']},
                        timeout=5, allow_redirects=False)
    return JsonResponse(resp.json())
""",
    ),
]
