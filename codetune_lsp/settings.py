"""The one settings model: typed, every key defaulted, merged from layered sources.

Precedence (lowest first): built-in defaults < user config file < environment
(``CODETUNE__SECTION__KEY``) < command-line ``--set`` < editor settings. Editor settings
(initializationOptions, workspace/configuration) can never set a privileged key: those are
dropped with a warning. A bad value is reported with its key and the default stays.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from codetune_lsp.paths import Paths

ENV_PREFIX = "CODETUNE__"
EDITOR_SECTION = "codetune"

LogLevel = Literal["debug", "info", "warning", "error"]
Family = Literal["whiterabbitneo", "codet5p", "qwen2.5-coder"]
Runtime = Literal["auto", "transformers", "llama.cpp"]
ChatFormatChoice = Literal["auto", "model", "family"]
BackendKind = Literal["local", "openai", "tgi"]
Quantization = Literal["none", "int8", "nf4", "fp4"]
DType = Literal["auto", "float32", "bfloat16", "float16"]
ComputeDType = Literal["auto", "float32", "bfloat16", "float16"]
RemoteApi = Literal["completions", "chat"]
ResponseFormat = Literal["json_schema", "json_object"]
Trigger = Literal["open", "save", "idle", "off"]
# Static rule sets for the diagnostics (codetune_lsp.rules.RULE_SETS).
RuleSet = Literal["python-security"]


@dataclass(frozen=True)
class ServerSettings:
    """Process-level behaviour of the language server."""

    log_level: LogLevel = "info"
    # Origins a browser may open the WebSocket transport from (privileged).
    ws_allowed_origins: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoreSettings:
    """Where executions, feedback, the cache and prompt versions are kept."""

    url: str = ""  # empty: SQLite file ``codetune.db`` in the data dir (privileged)
    record_text: bool = True
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    cache_enabled: bool = True
    cache_ttl_s: int = 7 * 24 * 3600  # 0: entries never expire
    cache_max_entries: int = 10_000
    cache_sampled: bool = False  # also cache requests with temperature > 0


@dataclass(frozen=True)
class ModelProfile:
    """A named model that features refer to (the whole ``models`` table is privileged)."""

    family: Family = "whiterabbitneo"
    # A built-in BackendKind or the name of a ``codetune_lsp.backends`` entry-point plugin;
    # checked when the backend is created (codetune_lsp.models.registry).
    backend: str = "local"
    id: str = ""
    revision: str = ""
    quantization: Quantization = "none"
    dtype: DType = "auto"
    device_map: str = "auto"
    max_memory: dict[str, str] = field(default_factory=dict)
    url: str = ""
    api_key_env: str = ""
    trust_remote_code: bool = False
    timeout_s: float = 60.0
    # Family variant from the profile table (e.g. "whiterabbitneo-33b-v1"); empty: from ``id``.
    variant: str = ""
    # bitsandbytes 4-bit compute dtype ("auto": bfloat16 on CUDA, float32 on CPU).
    compute_dtype: ComputeDType = "auto"
    double_quant: bool = False
    # Local backend: most requests in one ``generate`` call, and how long to wait for company.
    max_batch_size: int = 8
    batch_wait_ms: int = 2
    # 0: the context length from the family table (or the model config).
    context_length: int = 0
    # Remote backends.
    api: RemoteApi = "completions"
    response_format: ResponseFormat = "json_schema"
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    # Extra CA bundle (PEM path) for a private server; TLS verification is always on.
    ca_bundle: str = ""
    # A GGUF file: its name in the ``id`` repository, or empty when ``id`` is a .gguf path.
    gguf_file: str = ""
    # Local runtime: auto = llama.cpp for GGUF files when llama-cpp-python is installed,
    # else transformers (a GGUF is converted once and the copy kept in the data dir).
    runtime: Runtime = "auto"
    # Chat prompts: auto/model = the model's own chat template where it has one, else the
    # family's format from the profile table; family = always the table's format.
    chat_format: ChatFormatChoice = "auto"
    # CPU threads for generation (0: one per physical core).
    threads: int = 0
    # Cross-file snippets in this model's completion prompts. Off, the workspace index still
    # checks the name after ``module.`` (the embedded 0.5B completes better that way).
    context_snippets: bool = True


@dataclass(frozen=True)
class CrossFileSettings:
    """Snippets from other files of the workspace in the completion prompt (trusted
    workspaces only, unless ``workspace.context_in_untrusted``)."""

    enabled: bool = True
    open_documents: bool = True  # the other open documents, most recently edited first
    definitions: bool = True  # what the names before the cursor refer to (Python)
    retrieval: bool = True  # similar code from the rest of the workspace (BM25)
    max_snippets: int = 6
    max_tokens: int = 512  # the prompt's share for snippets, counted with the tokenizer


@dataclass(frozen=True)
class CompletionSettings:
    enabled: bool = True
    # auto: ghost text where the client supports inline completion, menu items elsewhere.
    mode: Literal["auto", "inline", "classic", "both"] = "auto"
    model: str = "qwen2.5-coder-0.5b"
    template: str = "completion.infill"
    label: str = "production"
    debounce_ms: int = 150
    timeout_ms: int = 20000
    max_new_tokens: int = 128
    # Where the cursor starts an empty function body the answer is the whole body.
    body_max_new_tokens: int = 384
    # The current file's share of the prompt in tokens (0: the model's whole window).
    # 1,024, not 2,048: the embedded 0.5B completed real code better with it (crossfile-api
    # exact match 16/57 against 11/57) and a cold prompt is read in half the time. A larger
    # model, or a GPU, may want more.
    max_prompt_tokens: int = 1024
    cross_file: CrossFileSettings = field(default_factory=CrossFileSettings)


@dataclass(frozen=True)
class CodeActionSettings:
    enabled: bool = True
    model: str = "qwen2.5-coder-0.5b"
    label: str = "production"
    markdown_output: Literal["document", "comment"] = "document"
    tests_location: Literal["new_file", "below"] = "new_file"


@dataclass(frozen=True)
class DiagnosticsSettings:
    enabled: bool = True
    model: str = "qwen2.5-coder-0.5b"
    # The model's security template (diagnostics.security) is not a default: on the held-out
    # security suite it added false alarms to the rules' findings and found nothing they
    # missed (docs/decisions.md, "Security findings come from rules").
    templates: list[str] = field(default_factory=lambda: ["diagnostics.quality"])
    # Rule sets whose findings join the templates' (security weaknesses, by static checks).
    rules: list[RuleSet] = field(default_factory=lambda: ["python-security"])
    label: str = "production"
    run_on: list[Trigger] = field(default_factory=lambda: ["open", "save"])
    idle_ms: int = 2000
    # A bigger file is not analysed (with a message); a longer one is analysed in part.
    max_file_chars: int = 500_000
    max_chunks: int = 32


@dataclass(frozen=True)
class FeatureSettings:
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    code_actions: CodeActionSettings = field(default_factory=CodeActionSettings)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)


@dataclass(frozen=True)
class WorkspaceSettings:
    # Workspace folders whose ``.codetune/prompts`` may be loaded (privileged).
    trusted: list[str] = field(default_factory=list)
    # Cross-file completion context in workspaces not listed in ``trusted`` (privileged).
    context_in_untrusted: bool = False
    # The cross-file index: files at most, and the largest file read, in KiB.
    index_max_files: int = 5000
    index_max_file_kib: int = 256


def _builtin_models() -> dict[str, ModelProfile]:
    return {
        # The embedded default: `codetune-lsp models install qwen2.5-coder-0.5b`.
        "qwen2.5-coder-0.5b": ModelProfile(
            family="qwen2.5-coder",
            id="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            revision="ebb2015119c907b064c512bf053e945850b5875f",
            gguf_file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            # Measured on crossfile and crossfile-api: snippets lowered its edit similarity
            # and exact match (docs/decisions.md, "After `module.`").
            context_snippets=False,
        ),
        "qwen2.5-coder-1.5b": ModelProfile(
            family="qwen2.5-coder",
            id="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            revision="f86cb2c1fa58255f8052cc32aeede1b7482d4361",
            gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        "codet5p-220m-py": ModelProfile(family="codet5p", id="Salesforce/codet5p-220m-py"),
        "whiterabbitneo-7b": ModelProfile(
            family="whiterabbitneo",
            id="WhiteRabbitNeo/WhiteRabbitNeo-2.5-Qwen-2.5-Coder-7B",
            quantization="nf4",
        ),
    }


@dataclass(frozen=True)
class Settings:
    """Everything a user can configure; each key has a default."""

    server: ServerSettings = field(default_factory=ServerSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    models: dict[str, ModelProfile] = field(default_factory=_builtin_models)
    features: FeatureSettings = field(default_factory=FeatureSettings)
    workspace: WorkspaceSettings = field(default_factory=WorkspaceSettings)


# Key paths an editor or a repository may never set. A prefix covers everything below it.
PRIVILEGED_PREFIXES: tuple[tuple[str, ...], ...] = (
    ("store", "url"),
    ("models",),
    ("workspace", "trusted"),
    ("workspace", "context_in_untrusted"),
    ("server", "ws_allowed_origins"),
)
SECRET_LEAVES = frozenset({"url"})
# Privacy settings an editor may tighten but never loosen: key -> its private value.
TIGHTEN_ONLY: dict[tuple[str, ...], Any] = {("store", "record_text"): False}


def is_privileged(path: tuple[str, ...]) -> bool:
    return any(path[: len(prefix)] == prefix for prefix in PRIVILEGED_PREFIXES)


@dataclass(frozen=True)
class SettingsProblem:
    """One thing wrong with the settings, phrased for the user."""

    key: str
    source: str
    message: str

    def __str__(self) -> str:
        return f"setting `{self.key}` (from {self.source}): {self.message}"


@dataclass(frozen=True)
class Layer:
    """One source of raw settings, e.g. the user config file or the editor."""

    name: str
    values: Mapping[str, Any]
    privileged: bool


@dataclass
class ResolvedSettings:
    """The typed settings plus where each leaf came from and what was wrong."""

    settings: Settings
    origins: dict[str, str]
    problems: list[SettingsProblem]


class _Invalid(Exception):
    pass


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a table of {_describe(typing.get_args(tp)[1])}"
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _check_leaf(tp: Any, value: Any) -> Any:
    """Validate one value against a leaf type strictly (no silent coercion)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
    elif origin is list:
        if isinstance(value, list):
            return [_check_leaf(typing.get_args(tp)[0], item) for item in value]
    elif origin is dict:
        if isinstance(value, dict):
            item_type = typing.get_args(tp)[1]
            return {str(k): _check_leaf(item_type, v) for k, v in value.items()}
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    elif tp is str and isinstance(value, str):
        return value
    raise _Invalid(f"expected {_describe(tp)}, got {value!r}")


def _build(
    cls: type,
    raw: Mapping[str, Any],
    path: tuple[str, ...],
    origins: dict[str, str],
    problems: list[SettingsProblem],
) -> Any:
    """Build dataclass ``cls`` from ``raw``, keeping defaults wherever a value is bad."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        key_path = (*path, key)
        dotted = ".".join(key_path)
        if key not in known:
            problems.append(
                SettingsProblem(
                    dotted,
                    _origin_of(origins, key_path),
                    f"unknown key, ignored. Known keys here: {', '.join(sorted(known))}.",
                )
            )
            continue
        tp = hints[key]
        try:
            kwargs[key] = _build_value(tp, value, key_path, origins, problems)
        except _Invalid as exc:
            problems.append(
                SettingsProblem(
                    dotted,
                    _origin_of(origins, key_path),
                    f"{exc}; the default is used instead.",
                )
            )
            origins.pop(dotted, None)
    return cls(**kwargs)


def _build_value(
    tp: Any,
    value: Any,
    path: tuple[str, ...],
    origins: dict[str, str],
    problems: list[SettingsProblem],
) -> Any:
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a table, got {value!r}")
        return _build(tp, value, path, origins, problems)  # type: ignore[arg-type]
    item_type = typing.get_args(tp)[1] if typing.get_origin(tp) is dict else None
    if item_type is not None and dataclasses.is_dataclass(item_type):
        if not isinstance(value, Mapping):
            raise _Invalid(f"expected a table, got {value!r}")
        built = {}
        for name, entry in value.items():
            if not isinstance(entry, Mapping):
                problems.append(
                    SettingsProblem(
                        ".".join((*path, name)),
                        _origin_of(origins, (*path, name)),
                        "expected a table; this entry is ignored.",
                    )
                )
                continue
            built[name] = _build(item_type, entry, (*path, name), origins, problems)
        return built
    if isinstance(tp, types.UnionType):  # pragma: no cover - no unions in the model today
        raise _Invalid(f"unsupported type {tp}")
    return _check_leaf(tp, value)


def _origin_of(origins: Mapping[str, str], path: tuple[str, ...]) -> str:
    for cut in range(len(path), 0, -1):
        found = origins.get(".".join(path[:cut]))
        if found:
            return found
    return "defaults"


def _is_leaf_table(path: tuple[str, ...]) -> bool:
    """Tables that are values themselves (merged whole), not sections."""
    return len(path) == 3 and path[0] == "models" and path[2] == "max_memory"


def _merge(
    target: dict[str, Any],
    values: Mapping[str, Any],
    source: str,
    origins: dict[str, str],
    path: tuple[str, ...] = (),
) -> None:
    for key, value in values.items():
        key_path = (*path, key)
        if isinstance(value, Mapping) and not _is_leaf_table(key_path):
            existing = target.get(key)
            if not isinstance(existing, dict):
                existing = target[key] = {}
            _merge(existing, value, source, origins, key_path)
        else:
            target[key] = copy.deepcopy(value)
            origins[".".join(key_path)] = source


def _without_privileged(
    values: Mapping[str, Any], path: tuple[str, ...] = ()
) -> tuple[dict[str, Any], list[str]]:
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    for key, value in values.items():
        key_path = (*path, str(key))
        if is_privileged(key_path) or (
            _holds_privileged(key_path) and not isinstance(value, Mapping)
        ):  # a section holding privileged keys, given as a scalar, would reset them
            dropped.append(".".join(key_path))
        elif isinstance(value, Mapping):
            sub, sub_dropped = _without_privileged(value, key_path)
            kept[key] = sub
            dropped.extend(sub_dropped)
        else:
            kept[key] = value
    return kept, dropped


def _holds_privileged(path: tuple[str, ...]) -> bool:
    return any(prefix[: len(path)] == path for prefix in PRIVILEGED_PREFIXES)


def _lookup(values: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    cursor: Any = values
    for part in path:
        if not isinstance(cursor, Mapping) or part not in cursor:
            return False, None
        cursor = cursor[part]
    return True, cursor


def _default_at(path: tuple[str, ...]) -> Any:
    value: Any = Settings()
    for part in path:
        value = getattr(value, part)
    return value


def _without_loosening(
    values: dict[str, Any], merged: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Drop privacy settings that would loosen what the privileged layers decided."""
    refused = []
    for path, private in TIGHTEN_ONLY.items():
        present, wanted = _lookup(values, path)
        if not present or (type(wanted) is type(private) and wanted == private):
            continue
        found, current = _lookup(merged, path)
        if (current if found else _default_at(path)) == private:
            values = copy.deepcopy(values)
            section = _lookup(values, path[:-1])[1]
            del section[path[-1]]
            refused.append(".".join(path))
    return values, refused


def resolve(layers: Iterable[Layer]) -> ResolvedSettings:
    """Merge the layers in order and build typed settings, collecting every problem."""
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}
    problems: list[SettingsProblem] = []
    for layer in layers:
        values = layer.values
        if not layer.privileged:
            values, dropped = _without_privileged(values)
            if dropped:
                problems.append(
                    SettingsProblem(
                        ", ".join(dropped),
                        layer.name,
                        "privileged, so it is ignored here. Set it in your user config "
                        "file, with --set, or in the environment.",
                    )
                )
            values, refused = _without_loosening(values, merged)
            if refused:
                problems.append(
                    SettingsProblem(
                        ", ".join(refused),
                        layer.name,
                        "a privacy setting may only be tightened from here, never loosened; "
                        "your user config file keeps it. Change it there to loosen it.",
                    )
                )
        _merge(merged, values, layer.name, origins)
    if "models" in merged:  # user profiles add to (and may replace) the built-in ones
        builtin = {name: dataclasses.asdict(p) for name, p in _builtin_models().items()}
        merged["models"] = {**builtin, **merged["models"]}
    settings = _build(Settings, merged, (), origins, problems)
    problems += _unknown_models(settings, origins)
    return ResolvedSettings(settings=settings, origins=origins, problems=problems)


def _unknown_models(settings: Settings, origins: Mapping[str, str]) -> list[SettingsProblem]:
    """A feature whose ``model`` names no profile: it will answer nothing until fixed."""
    problems = []
    known = ", ".join(sorted(settings.models)) or "none"
    for feature in dataclasses.fields(settings.features):
        model = getattr(settings.features, feature.name).model
        if model not in settings.models:
            key = f"features.{feature.name}.model"
            problems.append(
                SettingsProblem(
                    key,
                    origins.get(key, "defaults"),
                    f"no model profile named {model!r} (configured: {known}); add "
                    f"[models.{model}] to your user config file or pick a configured one.",
                )
            )
    return problems


def read_config_file(path: Path) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """Read the user's TOML file; a missing file is no problem, a broken one is."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [SettingsProblem("(file)", str(path), f"cannot be read: {exc.strerror}.")]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return {}, [
            SettingsProblem(
                "(file)",
                str(path),
                f"is not valid TOML ({exc}); all its settings are ignored until it is fixed.",
            )
        ]


def _parse_scalar(text: str) -> Any:
    """Read a value as TOML if it parses, else keep it as a plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    parts = [p for p in dotted.split(".") if p]
    nested: dict[str, Any] = {}
    cursor = nested
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def env_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``CODETUNE__FEATURES__COMPLETION__DEBOUNCE_MS=100`` → nested settings."""
    merged: dict[str, Any] = {}
    for name, text in sorted((environ if environ is not None else os.environ).items()):
        if name.startswith(ENV_PREFIX) and len(name) > len(ENV_PREFIX):
            dotted = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
            _merge(merged, _nest(dotted, _parse_scalar(text)), "", {})
    return merged


def cli_values(assignments: Iterable[str]) -> tuple[dict[str, Any], list[SettingsProblem]]:
    """``--set features.completion.debounce_ms=100`` → nested settings."""
    merged: dict[str, Any] = {}
    problems = []
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            problems.append(SettingsProblem(item, "--set", "expected KEY=VALUE."))
            continue
        _merge(merged, _nest(key.strip(), _parse_scalar(text.strip())), "", {})
    return merged, problems


def editor_values(raw: Any) -> dict[str, Any]:
    """Accept editor settings either bare or wrapped in a ``codetune`` section."""
    if not isinstance(raw, Mapping):
        return {}
    inner = raw.get(EDITOR_SECTION)
    return dict(inner) if isinstance(inner, Mapping) else dict(raw)


@dataclass
class SettingsSources:
    """The user-controlled layers, read once per process; the editor layer is added later."""

    paths: Paths
    file_values: dict[str, Any]
    env: dict[str, Any]
    cli: dict[str, Any]
    load_problems: list[SettingsProblem]

    @classmethod
    def load(cls, paths: Paths, cli_assignments: Iterable[str] = ()) -> SettingsSources:
        file_values, problems = read_config_file(paths.config_file)
        cli, cli_problems = cli_values(cli_assignments)
        return cls(paths, file_values, env_values(), cli, problems + cli_problems)

    def resolve(self, editor: Mapping[str, Mapping[str, Any]] | None = None) -> ResolvedSettings:
        """Resolve with the editor's layers (name → values), applied in the given order."""
        layers = [
            Layer(f"config file {self.paths.config_file}", self.file_values, privileged=True),
            Layer("environment", self.env, privileged=True),
            Layer("--set", self.cli, privileged=True),
        ]
        for name, values in (editor or {}).items():
            if values:
                layers.append(Layer(name, values, privileged=False))
        resolved = resolve(layers)
        resolved.problems[:0] = self.load_problems
        return resolved


def flatten(settings: Settings) -> dict[str, Any]:
    """Leaf key → value, for display."""
    out: dict[str, Any] = {}

    def walk(value: Any, path: tuple[str, ...]) -> None:
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name), (*path, f.name))
        elif isinstance(value, dict) and value and not _is_leaf_table(path):
            for key, item in value.items():
                walk(item, (*path, key))
        else:
            out[".".join(path)] = value

    walk(settings, ())
    return out
