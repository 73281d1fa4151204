# ruff: noqa: E501  (data: source lines of the snippets)
"""Labelled security cases, written for this project: a vulnerable snippet per case and
its fixed twin. In the vulnerable text, ``#<`` at a line's end marks the weak lines (the
marker is removed before the model sees the code; the marked lines are the span).

Sources of the patterns: the CWE entries' "Demonstrative Examples" and "Potential
Mitigations" (cwe.mitre.org, CWE-22/78/89/94/327/328/330/502/611/798/918) and the OWASP
Cheat Sheets (Injection Prevention, OS Command Injection Defense, Query Parameterization,
Deserialization, XXE Prevention, SSRF Prevention, Password Storage, Secrets Management).
"""

from __future__ import annotations

# (case id, CWE, source, vulnerable code with #< marks, fixed code)
CASES: list[tuple[str, str, str, str, str]] = [
    # -- CWE-78 OS command injection ------------------------------------------------------
    (
        "cmd-os-system",
        "CWE-78",
        "CWE-78 examples; OWASP OS Command Injection Defense",
        "import os\n\ndef ping(host):\n    os.system('ping -c 1 ' + host)  #<\n",
        "import subprocess\n\ndef ping(host):\n    subprocess.run(['ping', '-c', '1', host], check=False)\n",
    ),
    (
        "cmd-shell-true",
        "CWE-78",
        "CWE-78 examples",
        "import subprocess\n\ndef archive(name):\n    cmd = f'tar czf /tmp/out.tgz {name}'\n"
        "    return subprocess.call(cmd, shell=True)  #<\n",
        "import subprocess\n\ndef archive(name):\n"
        "    return subprocess.call(['tar', 'czf', '/tmp/out.tgz', '--', name])\n",
    ),
    (
        "cmd-popen",
        "CWE-78",
        "CWE-78 examples",
        "import os\n\ndef count_lines(path):\n    with os.popen('wc -l ' + path) as out:  #<\n"
        "        return out.read()\n",
        "def count_lines(path):\n    with open(path, encoding='utf-8') as handle:\n"
        "        return sum(1 for _ in handle)\n",
    ),
    (
        "cmd-flask-arg",
        "CWE-78",
        "OWASP OS Command Injection Defense",
        "import subprocess\nfrom flask import request\n\ndef lookup():\n"
        "    domain = request.args['domain']\n"
        "    return subprocess.check_output('nslookup ' + domain, shell=True)  #<\n",
        "import subprocess\nfrom flask import request\n\ndef lookup():\n"
        "    domain = request.args['domain']\n"
        "    return subprocess.check_output(['nslookup', '--', domain])\n",
    ),
    # -- CWE-89 SQL injection ---------------------------------------------------------------
    (
        "sql-format",
        "CWE-89",
        "CWE-89 examples; OWASP Query Parameterization",
        "def find_user(db, name):\n    cur = db.cursor()\n"
        "    cur.execute(\"SELECT * FROM users WHERE name = '%s'\" % name)  #<\n"
        "    return cur.fetchone()\n",
        "def find_user(db, name):\n    cur = db.cursor()\n"
        "    cur.execute('SELECT * FROM users WHERE name = ?', (name,))\n    return cur.fetchone()\n",
    ),
    (
        "sql-fstring",
        "CWE-89",
        "CWE-89 examples",
        "import sqlite3\n\ndef delete_item(item_id):\n    con = sqlite3.connect('shop.db')\n"
        "    con.execute(f'DELETE FROM items WHERE id = {item_id}')  #<\n    con.commit()\n",
        "import sqlite3\n\ndef delete_item(item_id):\n    con = sqlite3.connect('shop.db')\n"
        "    con.execute('DELETE FROM items WHERE id = ?', (item_id,))\n    con.commit()\n",
    ),
    (
        "sql-concat-order",
        "CWE-89",
        "OWASP SQL Injection Prevention",
        "def list_posts(cur, column):\n"
        "    cur.execute('SELECT title FROM posts ORDER BY ' + column)  #<\n    return cur.fetchall()\n",
        "ALLOWED = {'title', 'created'}\n\ndef list_posts(cur, column):\n"
        "    if column not in ALLOWED:\n        raise ValueError(column)\n"
        "    cur.execute('SELECT title FROM posts ORDER BY ' + column)\n    return cur.fetchall()\n",
    ),
    (
        "sql-executescript",
        "CWE-89",
        "CWE-89 examples",
        "def rename(con, old, new):\n"
        '    con.executescript("UPDATE tags SET name=\'" + new + "\' WHERE name=\'" + old + "\'")  #<\n',
        "def rename(con, old, new):\n"
        "    con.execute('UPDATE tags SET name = ? WHERE name = ?', (new, old))\n",
    ),
    # -- CWE-22 path traversal --------------------------------------------------------------
    (
        "path-join",
        "CWE-22",
        "CWE-22 examples; OWASP Path Traversal",
        "import os\n\nBASE = '/srv/files'\n\ndef read_file(name):\n"
        "    with open(os.path.join(BASE, name)) as handle:  #<\n        return handle.read()\n",
        "import os\n\nBASE = '/srv/files'\n\ndef read_file(name):\n"
        "    path = os.path.realpath(os.path.join(BASE, name))\n"
        "    if not path.startswith(BASE + os.sep):\n        raise PermissionError(name)\n"
        "    with open(path) as handle:\n        return handle.read()\n",
    ),
    (
        "path-flask-send",
        "CWE-22",
        "CWE-22 examples",
        "from flask import request, send_file\n\ndef download():\n"
        "    return send_file('/var/uploads/' + request.args['f'])  #<\n",
        "from flask import request, send_from_directory\n\ndef download():\n"
        "    return send_from_directory('/var/uploads', request.args['f'])\n",
    ),
    (
        "path-zip-extract",
        "CWE-22",
        "CWE-22 (zip slip) examples",
        "import zipfile\n\ndef unpack(archive, target):\n    with zipfile.ZipFile(archive) as z:\n"
        "        for member in z.namelist():\n"
        "            z.extract(member, target)  #<\n",
        "import os\nimport zipfile\n\ndef unpack(archive, target):\n"
        "    root = os.path.realpath(target)\n    with zipfile.ZipFile(archive) as z:\n"
        "        for member in z.namelist():\n"
        "            dest = os.path.realpath(os.path.join(root, member))\n"
        "            if not dest.startswith(root + os.sep):\n"
        "                raise ValueError(member)\n            z.extract(member, root)\n",
    ),
    (
        "path-delete",
        "CWE-22",
        "CWE-22 examples",
        "import os\n\ndef remove_avatar(user_file):\n"
        "    os.remove('/data/avatars/' + user_file)  #<\n",
        "import os\n\ndef remove_avatar(user_file):\n"
        "    name = os.path.basename(user_file)\n    os.remove(os.path.join('/data/avatars', name))\n",
    ),
    # -- CWE-94 code injection ------------------------------------------------------------
    (
        "code-eval",
        "CWE-94",
        "CWE-94/95 examples",
        "def calculate(expression):\n    return eval(expression)  #<\n",
        "import ast\n\ndef calculate(expression):\n    return ast.literal_eval(expression)\n",
    ),
    (
        "code-exec",
        "CWE-94",
        "CWE-94 examples",
        "def apply_rule(rule_source, data):\n    scope = {'data': data}\n"
        "    exec(rule_source, scope)  #<\n    return scope.get('result')\n",
        "RULES = {'double': lambda d: d * 2, 'negate': lambda d: -d}\n\n"
        "def apply_rule(rule_name, data):\n    return RULES[rule_name](data)\n",
    ),
    (
        "code-template",
        "CWE-94",
        "OWASP Server-Side Template Injection",
        "from flask import request\nfrom jinja2 import Template\n\ndef greet():\n"
        "    return Template('Hello ' + request.args['name']).render()  #<\n",
        "from flask import request\nfrom jinja2 import Template\n\ndef greet():\n"
        "    return Template('Hello {{ name }}').render(name=request.args['name'])\n",
    ),
    (
        "code-import",
        "CWE-94",
        "CWE-94 examples",
        "import importlib\n\ndef load_plugin(name):\n"
        "    return importlib.import_module(name)  #<\n",
        "import importlib\n\nPLUGINS = {'csv': 'app.plugins.csv', 'json': 'app.plugins.json'}\n\n"
        "def load_plugin(name):\n    return importlib.import_module(PLUGINS[name])\n",
    ),
    # -- CWE-502 deserialization --------------------------------------------------------------
    (
        "deser-pickle",
        "CWE-502",
        "CWE-502 examples; OWASP Deserialization",
        "import pickle\n\ndef load_session(blob):\n    return pickle.loads(blob)  #<\n",
        "import json\n\ndef load_session(blob):\n    return json.loads(blob)\n",
    ),
    (
        "deser-yaml",
        "CWE-502",
        "CWE-502 examples",
        "import yaml\n\ndef read_config(text):\n    return yaml.load(text, Loader=yaml.Loader)  #<\n",
        "import yaml\n\ndef read_config(text):\n    return yaml.safe_load(text)\n",
    ),
    (
        "deser-marshal",
        "CWE-502",
        "CWE-502 examples",
        "import marshal\n\ndef restore(data):\n    return marshal.loads(data)  #<\n",
        "import json\n\ndef restore(data):\n    return json.loads(data)\n",
    ),
    (
        "deser-shelve",
        "CWE-502",
        "OWASP Deserialization",
        "import pickle\nfrom flask import request\n\ndef upload_state():\n"
        "    state = pickle.load(request.files['state'])  #<\n    return str(state)\n",
        "import json\nfrom flask import request\n\ndef upload_state():\n"
        "    state = json.load(request.files['state'])\n    return str(state)\n",
    ),
    # -- CWE-798 hard-coded credentials -------------------------------------------------------
    (
        "secret-db-password",
        "CWE-798",
        "CWE-798 examples; OWASP Secrets Management",
        "import psycopg2\n\ndef connect():\n"
        "    return psycopg2.connect(host='db', user='app', password='Sup3rS3cret!')  #<\n",
        "import os\nimport psycopg2\n\ndef connect():\n"
        "    return psycopg2.connect(host='db', user='app', password=os.environ['DB_PASSWORD'])\n",
    ),
    (
        "secret-api-key",
        "CWE-798",
        "CWE-798 examples",
        "import requests\n\nAPI_KEY = 'sk_live_51HxQe2K8vZt9mWq3'  #<\n\ndef charge(amount):\n"
        "    return requests.post('https://api.pay.example/charge', auth=(API_KEY, ''),\n"
        "                         data={'amount': amount}, timeout=10)\n",
        "import os\nimport requests\n\ndef charge(amount):\n"
        "    return requests.post('https://api.pay.example/charge', auth=(os.environ['PAY_KEY'], ''),\n"
        "                         data={'amount': amount}, timeout=10)\n",
    ),
    (
        "secret-admin-check",
        "CWE-798",
        "CWE-798 examples",
        "def is_admin(user, password):\n"
        "    return user == 'admin' and password == 'letmein2024'  #<\n",
        "import hmac\nimport os\n\ndef is_admin(user, password):\n"
        "    return user == 'admin' and hmac.compare_digest(password, os.environ['ADMIN_PASSWORD'])\n",
    ),
    (
        "secret-jwt",
        "CWE-798",
        "OWASP Secrets Management",
        "import jwt\n\nSIGNING_KEY = 'my-jwt-signing-key-123'  #<\n\ndef token(user_id):\n"
        "    return jwt.encode({'sub': user_id}, SIGNING_KEY, algorithm='HS256')\n",
        "import os\nimport jwt\n\ndef token(user_id):\n"
        "    return jwt.encode({'sub': user_id}, os.environ['JWT_KEY'], algorithm='HS256')\n",
    ),
    # -- CWE-327/328 broken or weak crypto ----------------------------------------------------
    (
        "crypto-md5-password",
        "CWE-328",
        "CWE-328 examples; OWASP Password Storage",
        "import hashlib\n\ndef hash_password(password):\n"
        "    return hashlib.md5(password.encode()).hexdigest()  #<\n",
        "import hashlib\nimport os\n\ndef hash_password(password):\n    salt = os.urandom(16)\n"
        "    return salt + hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)\n",
    ),
    (
        "crypto-sha1-sign",
        "CWE-328",
        "CWE-328 examples",
        "import hashlib\n\ndef fingerprint(document):\n"
        "    return hashlib.sha1(document).hexdigest()  #<\n",
        "import hashlib\n\ndef fingerprint(document):\n    return hashlib.sha256(document).hexdigest()\n",
    ),
    (
        "crypto-des",
        "CWE-327",
        "CWE-327 examples",
        "from Crypto.Cipher import DES\n\ndef encrypt(key, data):\n"
        "    return DES.new(key, DES.MODE_ECB).encrypt(data)  #<\n",
        "from Crypto.Cipher import AES\n\ndef encrypt(key, data):\n"
        "    cipher = AES.new(key, AES.MODE_GCM)\n    body, tag = cipher.encrypt_and_digest(data)\n"
        "    return cipher.nonce + tag + body\n",
    ),
    (
        "crypto-aes-ecb",
        "CWE-327",
        "CWE-327 examples",
        "from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes\n\n"
        "def seal(key, block):\n"
        "    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  #<\n"
        "    return encryptor.update(block) + encryptor.finalize()\n",
        "import os\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\n"
        "def seal(key, block):\n    nonce = os.urandom(12)\n"
        "    return nonce + AESGCM(key).encrypt(nonce, block, None)\n",
    ),
    # -- CWE-330 insufficient randomness -------------------------------------------------------
    (
        "random-token",
        "CWE-330",
        "CWE-330 examples",
        "import random\nimport string\n\ndef reset_token():\n"
        "    return ''.join(random.choice(string.ascii_letters) for _ in range(32))  #<\n",
        "import secrets\n\ndef reset_token():\n    return secrets.token_urlsafe(32)\n",
    ),
    (
        "random-session",
        "CWE-330",
        "CWE-330 examples",
        "import random\n\ndef new_session_id():\n    return '%032x' % random.getrandbits(128)  #<\n",
        "import secrets\n\ndef new_session_id():\n    return secrets.token_hex(16)\n",
    ),
    (
        "random-otp",
        "CWE-330",
        "CWE-330 examples",
        "import random\n\ndef one_time_code():\n    return str(random.randint(100000, 999999))  #<\n",
        "import secrets\n\ndef one_time_code():\n    return str(100000 + secrets.randbelow(900000))\n",
    ),
    (
        "random-seeded-key",
        "CWE-330",
        "CWE-330/335 examples",
        "import random\nimport time\n\ndef api_key():\n    random.seed(time.time())  #<\n"
        "    return bytes(random.randrange(256) for _ in range(24)).hex()  #<\n",
        "import secrets\n\ndef api_key():\n    return secrets.token_bytes(24).hex()\n",
    ),
    # -- CWE-611 XXE --------------------------------------------------------------------------
    (
        "xxe-lxml",
        "CWE-611",
        "CWE-611 examples; OWASP XXE Prevention",
        "from lxml import etree\n\ndef parse(xml_bytes):\n"
        "    parser = etree.XMLParser(resolve_entities=True, no_network=False)  #<\n"
        "    return etree.fromstring(xml_bytes, parser)\n",
        "from lxml import etree\n\ndef parse(xml_bytes):\n"
        "    parser = etree.XMLParser(resolve_entities=False, no_network=True)\n"
        "    return etree.fromstring(xml_bytes, parser)\n",
    ),
    (
        "xxe-sax",
        "CWE-611",
        "CWE-611 examples",
        "import xml.sax\nfrom xml.sax.handler import feature_external_ges\n\ndef parse(stream, handler):\n"
        "    parser = xml.sax.make_parser()\n"
        "    parser.setFeature(feature_external_ges, True)  #<\n"
        "    parser.setContentHandler(handler)\n    parser.parse(stream)\n",
        "import defusedxml.sax\n\ndef parse(stream, handler):\n"
        "    defusedxml.sax.parse(stream, handler)\n",
    ),
    (
        "xxe-pulldom",
        "CWE-611",
        "OWASP XXE Prevention",
        "from xml.dom import pulldom\nfrom xml.sax.handler import feature_external_ges\n\n"
        "def events(path):\n    doc = pulldom.parse(path)\n"
        "    doc.parser.setFeature(feature_external_ges, True)  #<\n    return list(doc)\n",
        "from defusedxml import pulldom\n\ndef events(path):\n    return list(pulldom.parse(path))\n",
    ),
    (
        "xxe-lxml-dtd",
        "CWE-611",
        "OWASP XXE Prevention",
        "from lxml import etree\n\ndef load(path):\n"
        "    parser = etree.XMLParser(load_dtd=True, resolve_entities=True)  #<\n"
        "    return etree.parse(path, parser)\n",
        "from lxml import etree\n\ndef load(path):\n"
        "    parser = etree.XMLParser(load_dtd=False, resolve_entities=False)\n"
        "    return etree.parse(path, parser)\n",
    ),
    # -- CWE-918 SSRF ---------------------------------------------------------------------------
    (
        "ssrf-requests",
        "CWE-918",
        "CWE-918 examples; OWASP SSRF Prevention",
        "import requests\nfrom flask import request\n\ndef preview():\n"
        "    return requests.get(request.args['url'], timeout=5).text  #<\n",
        "import requests\nfrom urllib.parse import urlparse\nfrom flask import request\n\n"
        "ALLOWED_HOSTS = {'images.example.com'}\n\ndef preview():\n    url = request.args['url']\n"
        "    if urlparse(url).hostname not in ALLOWED_HOSTS:\n        raise PermissionError(url)\n"
        "    return requests.get(url, timeout=5, allow_redirects=False).text\n",
    ),
    (
        "ssrf-urlopen",
        "CWE-918",
        "CWE-918 examples",
        "from urllib.request import urlopen\n\ndef fetch_avatar(url):\n"
        "    return urlopen(url).read()  #<\n",
        "from urllib.parse import urlparse\nfrom urllib.request import urlopen\n\n"
        "def fetch_avatar(url):\n    parsed = urlparse(url)\n"
        "    if parsed.scheme != 'https' or parsed.hostname != 'avatars.example.com':\n"
        "        raise PermissionError(url)\n    return urlopen(url).read()\n",
    ),
    (
        "ssrf-webhook",
        "CWE-918",
        "OWASP SSRF Prevention",
        "import httpx\n\ndef notify(webhook_url, event):\n"
        "    httpx.post(webhook_url, json=event, timeout=5)  #<\n",
        "import httpx\nfrom urllib.parse import urlparse\n\nHOOKS = {'hooks.example.com'}\n\n"
        "def notify(webhook_url, event):\n    if urlparse(webhook_url).hostname not in HOOKS:\n"
        "        raise PermissionError(webhook_url)\n    httpx.post(webhook_url, json=event, timeout=5)\n",
    ),
    (
        "ssrf-host-param",
        "CWE-918",
        "CWE-918 examples",
        "import requests\n\ndef service_status(host):\n"
        "    return requests.get(f'http://{host}/status', timeout=3).json()  #<\n",
        "import requests\n\nSERVICES = {'billing': 'billing.internal', 'auth': 'auth.internal'}\n\n"
        "def service_status(name):\n"
        "    return requests.get(f'http://{SERVICES[name]}/status', timeout=3).json()\n",
    ),
]
