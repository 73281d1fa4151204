"""Flow rules for the weaknesses bandit has no check for, and validation it cannot see.

Each function is read once, without regard to statement order (the same approximation
bandit's peers make for a single function):

- **untrusted values**: the function's parameters, anything read from a web framework's
  ``request``, and the member names of an archive; values computed from them stay
  untrusted, except through a sanitiser (``os.path.basename``, ``secure_filename``,
  ``int``...) or a lookup in a table (``PLUGINS[name]`` is the table's value);
- **validated values**: those compared in an ``if``, ``while`` or ``assert`` test (``in``,
  ``==``, ``startswith``, ``is_relative_to``, a regular-expression match...), and the values
  they were computed from;
- **sinks**: a file path built from an untrusted part (CWE-22), a URL whose host is not
  fixed by the code (CWE-918), a module name or a template source from untrusted input
  (CWE-94), an XML parser told to resolve external entities (CWE-611), and a secret-named
  variable holding a literal key (CWE-798).

A sink reached only by validated values is not reported.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from codetune_lsp.rules import RuleHit

SELF_NAMES = frozenset({"self", "cls"})
SANITISERS = frozenset(
    {
        "os.path.basename",
        "basename",
        "secure_filename",
        "werkzeug.utils.secure_filename",
        "int",
        "float",
        "bool",
        "len",
        "uuid.UUID",
        "shlex.quote",
        "quote",
    }
)
VALIDATING_CALLS = frozenset(
    {
        "startswith",
        "is_relative_to",
        "match",
        "fullmatch",
        "isalnum",
        "isdigit",
        "isdecimal",
        "isidentifier",
        "issubset",
        "commonpath",
    }
)
ARCHIVE_LISTINGS = frozenset({"namelist", "infolist", "getmembers", "getnames"})
PATH_SINKS = frozenset(
    {
        "open",
        "io.open",
        "os.open",
        "os.remove",
        "os.unlink",
        "os.rmdir",
        "os.removedirs",
        "os.rename",
        "os.replace",
        "os.listdir",
        "os.scandir",
        "os.mkdir",
        "os.makedirs",
        "os.chmod",
        "shutil.rmtree",
        "shutil.copy",
        "shutil.copy2",
        "shutil.copyfile",
        "shutil.move",
        "send_file",
        "flask.send_file",
        "FileResponse",
        "django.http.FileResponse",
        "fastapi.responses.FileResponse",
        "starlette.responses.FileResponse",
    }
)
PATH_BUILDERS = frozenset(
    {"os.path.join", "posixpath.join", "pathlib.Path", "Path", "pathlib.PurePath"}
)
HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options")
URL_SINKS = frozenset(
    {
        *(f"{module}.{verb}" for module in ("requests", "httpx") for verb in HTTP_VERBS),
        "urllib.request.urlopen",
        "urlopen",
        "urllib.request.Request",
    }
)
URL_SINKS_SECOND = frozenset({"requests.request", "httpx.request", "httpx.stream"})
# Constructors of HTTP clients whose methods fetch a URL (the second argument of
# ``request``/``urlopen``, the first of the verbs).
HTTP_CLIENTS = frozenset(
    {
        "requests.Session",
        "httpx.Client",
        "httpx.AsyncClient",
        "aiohttp.ClientSession",
        "urllib3.PoolManager",
        "urllib3.ProxyManager",
    }
)
PATH_METHODS = frozenset(
    {"read_bytes", "read_text", "write_bytes", "write_text", "unlink", "rmdir", "touch", "save"}
)
SHELL_SINKS = frozenset({"asyncio.create_subprocess_shell", "subprocess.getstatusoutput"})
UNSAFE_LOADERS = frozenset({"yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load"})
OLD_PROTOCOLS = frozenset(
    {"PROTOCOL_SSLv2", "PROTOCOL_SSLv3", "PROTOCOL_TLSv1", "PROTOCOL_TLSv1_1", "TLSv1", "TLSv1_1"}
)
IMPORT_SINKS = frozenset({"importlib.import_module", "import_module", "__import__"})
TEMPLATE_SINKS = frozenset(
    {
        "jinja2.Template",
        "Template",
        "mako.template.Template",
        "flask.render_template_string",
        "render_template_string",
    }
)
XXE_FLAGS = {"resolve_entities": True, "load_dtd": True, "no_network": False}
XXE_FEATURES = frozenset({"feature_external_ges", "feature_external_pes"})
SECRET_NAME = re.compile(
    r"(^|_)(api|secret|signing|private|access|auth|client|encryption|master)_?(key|secret)$"
    r"|(^|_)client_?secret$",
    re.IGNORECASE,
)
KNOWN_KEY_PREFIX = re.compile(r"^(sk_live_|sk_test_|rk_live_|AKIA|ghp_|gho_|xox[abp]-|AIza)")
FIXED_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://[^/{}]+/", re.IGNORECASE)


def dotted(node: ast.AST, aliases: dict[str, str]) -> str:
    """``os.path.join`` for a name or attribute chain, through the file's import aliases."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def import_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted origin for ``import x as y`` and ``from x import y``."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _request_root(node: ast.AST) -> bool:
    """Whether ``node`` reads from a web framework's ``request`` object."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and node.id == "request"


@dataclass
class FunctionFlow:
    """What a function's values are: untrusted, computed from what, validated."""

    aliases: dict[str, str]
    untrusted: set[str] = field(default_factory=set)
    composed: set[str] = field(default_factory=set)  # untrusted values built into a path/URL
    sources: dict[str, set[str]] = field(default_factory=dict)  # name -> names it came from
    validated: set[str] = field(default_factory=set)
    archives: set[str] = field(default_factory=set)  # names bound to an open tar archive
    prefixes: dict[str, str] = field(default_factory=dict)  # name -> its constant text start
    from_request: set[str] = field(default_factory=set)  # names computed from request data
    clients: frozenset[str] = frozenset()  # names and attributes bound to HTTP clients

    @classmethod
    def of(
        cls,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
        aliases: dict[str, str],
        clients: frozenset[str] = frozenset(),
    ) -> FunctionFlow:
        flow = cls(aliases, clients=clients)
        arguments = function.args
        for argument in (
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *(a for a in (arguments.vararg, arguments.kwarg) if a is not None),
        ):
            if argument.arg not in SELF_NAMES:
                flow.untrusted.add(argument.arg)
        parameters = set(flow.untrusted)
        body = list(_own_nodes(function))
        for node in body:
            flow._bind(node)  # where each value comes from
            if isinstance(node, ast.If | ast.While | ast.Assert | ast.IfExp):
                flow._validate(node.test)
            elif isinstance(node, ast.comprehension):
                for condition in node.ifs:
                    flow._validate(condition)
        flow._close_validation()
        # Now that validation is known, what is untrusted (a value computed from checked
        # ones is not); a second pass reaches values assigned before their sources.
        flow.untrusted, flow.composed, flow.from_request = parameters, set(), set()
        for _ in range(2):
            for node in body:
                flow._bind(node)
        return flow

    # -- reading values -----------------------------------------------------------------

    def is_untrusted(self, node: ast.AST | None) -> bool:
        """Whether ``node``'s value depends on an untrusted, unvalidated input."""
        if node is None:
            return False
        if _request_root(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.untrusted and node.id not in self.validated
        if isinstance(node, ast.Subscript):  # a table lookup yields the table's value
            return self.is_untrusted(node.value)
        if isinstance(node, ast.Call):
            name = dotted(node.func, self.aliases)
            if name in SANITISERS or name.rsplit(".", 1)[-1] in {"basename", "secure_filename"}:
                return False
            receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
            if receiver is not None and node.func.attr == "get":  # type: ignore[union-attr]
                return self.is_untrusted(receiver)  # a lookup yields the table's value
            return any(self.is_untrusted(part) for part in (receiver, *node.args)) or any(
                self.is_untrusted(k.value) for k in node.keywords
            )
        if isinstance(node, ast.Lambda | ast.Constant):
            return False
        return any(self.is_untrusted(child) for child in ast.iter_child_nodes(node))

    def reads_request(self, node: ast.AST) -> bool:
        """Whether ``node`` uses request data, directly or through a local computed from it."""
        return any(
            _request_root(part) or (isinstance(part, ast.Name) and part.id in self.from_request)
            for part in ast.walk(node)
        )

    def is_composed(self, node: ast.AST) -> bool:
        """An untrusted value joined to constant text (``BASE + name``, ``f"/x/{name}"``)."""
        if isinstance(node, ast.Name):
            return node.id in self.composed and node.id not in self.validated
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod | ast.Div):
            return self.is_untrusted(node)
        if isinstance(node, ast.JoinedStr):
            return self.is_untrusted(node)
        if isinstance(node, ast.Call):
            name = dotted(node.func, self.aliases)
            if name in PATH_BUILDERS or (
                isinstance(node.func, ast.Attribute) and node.func.attr in {"format", "join"}
            ):
                return self.is_untrusted(node)
        return False

    def constant_prefix(self, node: ast.AST) -> str:
        """The constant text a string expression starts with (for a URL's host)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr) and node.values:
            return self.constant_prefix(node.values[0])
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.constant_prefix(node.left)
            if isinstance(node.left, ast.Constant):
                return left + self.constant_prefix(node.right)
            return left
        if isinstance(node, ast.Name):
            return self.prefixes.get(node.id, "")
        return ""

    # -- binding ------------------------------------------------------------------------

    def _bind(self, node: ast.AST) -> None:
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign | ast.NamedExpr):
            value = node.value
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if value is not None:
                for target in targets:
                    self._assign(target, value)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            listing = (
                isinstance(node.iter, ast.Call)
                and isinstance(node.iter.func, ast.Attribute)
                and node.iter.func.attr in ARCHIVE_LISTINGS
            )
            if listing or self.is_untrusted(node.iter):
                for name in _names(node.target):
                    self.untrusted.add(name)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            self._assign(node.optional_vars, node.context_expr)

    def _assign(self, target: ast.AST, value: ast.AST) -> None:
        names = list(_names(target))
        origins = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        for name in names:
            self.sources.setdefault(name, set()).update(origins)
            prefix = self.constant_prefix(value)
            if prefix:
                self.prefixes[name] = prefix
        if self.reads_request(value):
            self.from_request.update(names)
        if self.is_untrusted(value):
            self.untrusted.update(names)
            if self.is_composed(value):
                self.composed.update(names)
        if isinstance(value, ast.Call) and dotted(value.func, self.aliases) in {
            "tarfile.open",
            "tarfile.TarFile",
        }:
            self.archives.update(names)

    def _validate(self, test: ast.AST) -> None:
        for node in ast.walk(test):
            checked: list[ast.AST] = []
            if isinstance(node, ast.Compare) and not all(
                isinstance(op, ast.Is | ast.IsNot) for op in node.ops
            ):
                checked = [node.left, *node.comparators]
            elif isinstance(node, ast.Call):
                name = dotted(node.func, self.aliases)
                if name.rsplit(".", 1)[-1] in VALIDATING_CALLS:
                    receiver = node.func.value if isinstance(node.func, ast.Attribute) else None
                    checked = [part for part in (receiver, *node.args) if part is not None]
            for part in checked:
                self.validated.update(n.id for n in ast.walk(part) if isinstance(n, ast.Name))

    def _close_validation(self) -> None:
        """A checked value vouches for what it was computed from (``path`` for ``name``)."""
        pending = list(self.validated)
        while pending:
            for origin in self.sources.get(pending.pop(), ()):
                if origin not in self.validated:
                    self.validated.add(origin)
                    pending.append(origin)


def _names(target: ast.AST) -> Iterator[str]:
    for node in ast.walk(target):
        if isinstance(node, ast.Name):
            yield node.id


def _own_nodes(function: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function's body, not those of functions or classes nested in it."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def http_clients(tree: ast.Module, aliases: dict[str, str]) -> frozenset[str]:
    """Names (``session``) and attributes (``self.http``, as ``http``) bound to HTTP clients."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.Assign):
            pairs = [(target, node.value) for target in node.targets]
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            pairs = [(node.optional_vars, node.context_expr)]
        for target, value in pairs:
            if isinstance(value, ast.Call) and dotted(value.func, aliases) in HTTP_CLIENTS:
                if isinstance(target, ast.Name):
                    bound.add(target.id)
                elif isinstance(target, ast.Attribute):
                    bound.add(target.attr)
    return frozenset(bound)


def _client_call(call: ast.Call, flow: FunctionFlow) -> bool:
    """Whether ``call`` is a method of a known HTTP client (``session.get``)."""
    if not isinstance(call.func, ast.Attribute):
        return False
    owner = call.func.value
    name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
    return name in flow.clients and call.func.attr in {*HTTP_VERBS, "request", "urlopen"}


def _argument(call: ast.Call, position: int, *keywords: str) -> ast.AST | None:
    for keyword in call.keywords:
        if keyword.arg in keywords:
            return keyword.value
    return call.args[position] if len(call.args) > position else None


def _hit(node: ast.AST, rule: str, severity: str, message: str, check: str) -> RuleHit:
    line = getattr(node, "lineno", 1)
    return RuleHit(line, getattr(node, "end_lineno", line) or line, rule, severity, message, check)


def function_flows(
    tree: ast.Module,
) -> list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, FunctionFlow]]:
    """Each function of a parsed module with what its values are (read once per scan)."""
    aliases = import_aliases(tree)
    clients = http_clients(tree, aliases)
    return [(function, FunctionFlow.of(function, aliases, clients)) for function in functions(tree)]


def flow_hits(
    tree: ast.Module,
    flows: list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, FunctionFlow]],
) -> list[RuleHit]:
    """Every flow rule's hits in a parsed module, given its ``function_flows``."""
    hits = list(_module_hits(tree, import_aliases(tree)))
    for function, flow in flows:
        for node in _own_nodes(function):
            if isinstance(node, ast.Call):
                hits += _call_hits(node, flow)
    return hits


def _call_hits(call: ast.Call, flow: FunctionFlow) -> list[RuleHit]:
    name = dotted(call.func, flow.aliases)
    attribute = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    hits = []
    if name in PATH_SINKS or name.endswith(".send_file"):
        path = _argument(call, 0, "file", "path", "path_or_file", "filename")
        if path is not None and (
            flow.is_composed(path) or (flow.reads_request(path) and flow.is_untrusted(path))
        ):
            hits.append(
                _hit(
                    call,
                    "CWE-22",
                    _severity(path, flow),
                    "A file path is built from untrusted input without a check that it stays "
                    "in its folder: path traversal. Resolve it and check the prefix, or use "
                    "os.path.basename / send_from_directory.",
                    "codetune path-traversal",
                )
            )
    if attribute in {"extract", "extractall"} and isinstance(call.func, ast.Attribute):
        archive = call.func.value
        member = _argument(call, 0, "member")
        named = isinstance(archive, ast.Name) and archive.id in flow.archives
        unfiltered = not any(k.arg == "filter" for k in call.keywords)
        if named and unfiltered and (attribute == "extractall" or flow.is_untrusted(member)):
            hits.append(
                _hit(
                    call,
                    "CWE-22",
                    "error",
                    "A tar member's name decides where it is written: an archive can write "
                    "outside the target folder. Pass filter='data' (Python 3.12+).",
                    "codetune tar-extract",
                )
            )
    if attribute in PATH_METHODS and isinstance(call.func, ast.Attribute):
        # ``upload.save(target)`` writes to its argument; ``report.read_bytes()`` reads its owner.
        path = (call.args[0] if call.args else None) if attribute == "save" else call.func.value
        if path is not None and flow.is_composed(path):
            hits.append(
                _hit(
                    call,
                    "CWE-22",
                    _severity(path, flow),
                    "A file path is built from untrusted input without a check that it stays "
                    "in its folder: path traversal. Resolve it and check it is inside the "
                    "folder (Path.is_relative_to).",
                    "codetune path-traversal",
                )
            )
    if name in SHELL_SINKS:
        command = _argument(call, 0, "cmd")
        if command is not None and flow.is_untrusted(command):
            hits.append(
                _hit(
                    call,
                    "CWE-78",
                    "error",
                    "Untrusted input is part of a shell command: OS command injection. Run "
                    "the program with an argument list (create_subprocess_exec).",
                    "codetune shell",
                )
            )
    client = _client_call(call, flow)
    if name in URL_SINKS or name in URL_SINKS_SECOND or client:
        second = name in URL_SINKS_SECOND or (client and attribute in {"request", "urlopen"})
        url = _argument(call, 1 if second else 0, "url")
        if (
            url is not None
            and flow.is_untrusted(url)
            and not FIXED_HOST.match(flow.constant_prefix(url))
        ):
            hits.append(
                _hit(
                    call,
                    "CWE-918",
                    _severity(url, flow),
                    "The request's URL comes from untrusted input and its host is not "
                    "checked: server-side request forgery. Check the host against an "
                    "allowlist first.",
                    "codetune ssrf",
                )
            )
    if name in IMPORT_SINKS:
        module = _argument(call, 0, "name")
        if module is not None and flow.is_untrusted(module):
            hits.append(
                _hit(
                    call,
                    "CWE-94",
                    "error",
                    "A module named by untrusted input is imported, which runs its code. "
                    "Map allowed names to modules instead.",
                    "codetune dynamic-import",
                )
            )
    if name in TEMPLATE_SINKS or attribute == "from_string":
        source = _argument(call, 0, "source")
        if source is not None and flow.is_composed(source) and flow.reads_request(source):
            hits.append(
                _hit(
                    call,
                    "CWE-94",
                    "error",
                    "Untrusted input becomes part of a template's source: template "
                    "injection. Pass it as a variable to render() instead.",
                    "codetune template-injection",
                )
            )
    return hits


def _severity(node: ast.AST, flow: FunctionFlow) -> str:
    """An error where request data reaches the sink, a warning for a caller's argument."""
    return "error" if flow.reads_request(node) else "warning"


def _module_hits(tree: ast.Module, aliases: dict[str, str]) -> Iterator[RuleHit]:
    """Rules that need no flow: XML parser flags and secret-named literals."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func, aliases)
            if name in UNSAFE_LOADERS:
                yield _hit(
                    node,
                    "CWE-502",
                    "error",
                    f"{name} can build arbitrary Python objects from the text: unsafe "
                    "deserialization. Use yaml.safe_load.",
                    "codetune unsafe-load",
                )
            if name.startswith("lxml.") or name.endswith(("XMLParser", "iterparse")):
                asked = [
                    k.arg
                    for k in node.keywords
                    if k.arg in XXE_FLAGS
                    and isinstance(k.value, ast.Constant)
                    and k.value.value is XXE_FLAGS[k.arg]
                ]
                if asked:
                    yield _hit(
                        node,
                        "CWE-611",
                        "error",
                        f"The XML parser is told to load external entities ({', '.join(asked)}):"
                        " XML external entity injection. Use resolve_entities=False, "
                        "no_network=True, or defusedxml.",
                        "codetune xxe",
                    )
            if (
                isinstance(node.func, ast.Attribute)
                and node.func.attr == "setFeature"
                and len(node.args) == 2
                and dotted(node.args[0], aliases).rsplit(".", 1)[-1] in XXE_FEATURES
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value is True
            ):
                yield _hit(
                    node,
                    "CWE-611",
                    "error",
                    "External entities are turned on for this XML parser: XML external entity"
                    " injection. Leave the feature off, or use defusedxml.",
                    "codetune xxe",
                )
        elif isinstance(node, ast.Attribute) and node.attr in OLD_PROTOCOLS:
            if dotted(node, aliases).startswith("ssl."):
                yield _hit(
                    node,
                    "CWE-327",
                    "error",
                    f"{node.attr} is a broken protocol version. Use "
                    "ssl.create_default_context() (TLS 1.2 or later).",
                    "codetune old-tls",
                )
        elif isinstance(node, ast.Assign | ast.AnnAssign) and _secret_literal(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                if name and SECRET_NAME.search(name):
                    yield _hit(
                        node,
                        "CWE-798",
                        "error",
                        f"{name} holds a literal key in the source: hard-coded credentials. "
                        "Read it from the environment or a secret store.",
                        "codetune hard-coded-key",
                    )


def _secret_literal(value: ast.AST | None) -> bool:
    """A string that looks like a key: long, no spaces, letters and digits, or a known form."""
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        return False
    text = value.value
    if KNOWN_KEY_PREFIX.match(text):
        return True
    placeholder = any(mark in text for mark in ("{", "<", "$", "xxx", "XXX", "change"))
    return (
        len(text) >= 12
        and " " not in text
        and not placeholder
        and any(c.isdigit() for c in text)
        and any(c.isalpha() for c in text)
    )
