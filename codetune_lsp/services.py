"""The long-lived parts behind the features: store, prompt library and engine.

Opening them blocks (migrations, seeding), so the server does it off the event loop after
``initialized``, and ``codetune-lsp check`` does it before it starts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codetune_lsp.paths import Paths
from codetune_lsp.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    store: Any
    library: Any
    engine: Any
    problems: list[str] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.engine.aclose()
        await self.store.aclose()


def import_prompt_dir(library: Any, directory: Path) -> list[str]:
    """Import every template file in ``directory``; return one line per broken file.

    A broken file (not UTF-8, invalid, or failing in any other way) is skipped: the others
    and the built-ins keep working."""
    from codetune_lsp.prompts.template import TemplateInvalid

    problems = []
    if not directory.is_dir():
        return problems
    for path in sorted(directory.glob("*.toml")):
        try:
            library.import_source(_read_utf8(path), str(path))
        except TemplateInvalid as exc:
            problems.append(f"prompt template {exc} (file ignored until fixed)")
        except UnicodeDecodeError as exc:
            line = exc.object[: exc.start].count(b"\n") + 1
            byte = exc.object[exc.start]
            problems.append(
                f"prompt template {path}:{line}: not valid UTF-8 (byte 0x{byte:02x}) "
                "(file ignored until fixed)"
            )
        except OSError as exc:
            problems.append(f"prompt template {path}: cannot be read: {exc.strerror}")
        except Exception as exc:  # one bad file must never stop the rest
            logger.warning("prompt template %s failed to load", path, exc_info=True)
            problems.append(
                f"prompt template {path}: cannot be loaded ({type(exc).__name__}) "
                "(file ignored until fixed)"
            )
    return problems


def _read_utf8(path: Path) -> str:
    return path.read_bytes().decode("utf-8")


def open_services(settings: Settings, paths: Paths, backend_factory: Any = None) -> Services:
    """Open the store (migrating it), seed and import templates, build the engine."""
    from codetune_lsp.engine import Engine
    from codetune_lsp.models.registry import create_backend
    from codetune_lsp.prompts.library import PromptLibrary
    from codetune_lsp.store import open_store

    store = open_store(settings, paths)
    try:
        library = PromptLibrary(store)
        library.seed_builtins()
        problems = import_prompt_dir(library, paths.user_prompts_dir)
        engine = Engine(settings, store, library, backend_factory or create_backend)
        _import_backend_module(settings)
    except BaseException:
        store.close()
        raise
    for problem in problems:
        logger.warning("%s", problem)
    return Services(store, library, engine, problems)


def _import_backend_module(settings: Settings) -> None:
    """Import the completion model's backend module here, off the event loop, so the first
    completion does not pay for it (an HTTP client stack is ~100 ms of imports)."""
    from codetune_lsp.models.registry import _load, available_backends

    profile = settings.models.get(settings.features.completion.model)
    target = available_backends().get(profile.backend) if profile is not None else None
    if target is not None:
        try:
            _load(target)
        except Exception:  # reported properly when the backend is first created
            logger.debug("backend module %s did not import", target, exc_info=True)
