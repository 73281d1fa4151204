"""Where codetune-lsp keeps its files: the user config file and the data directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "codetune-lsp"
CONFIG_ENV = "CODETUNE_CONFIG"
HOME_ENV = "CODETUNE_HOME"
CONFIG_FILE_NAME = "config.toml"


@dataclass(frozen=True)
class Paths:
    """The resolved file locations, and why each was chosen."""

    config_file: Path
    config_file_origin: str
    data_dir: Path
    data_dir_origin: str

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "codetune-lsp.log"

    @property
    def default_database(self) -> Path:
        return self.data_dir / "codetune.db"

    @property
    def user_prompts_dir(self) -> Path:
        return self.config_file.parent / "prompts"


def resolve_paths(config_override: str | os.PathLike[str] | None = None) -> Paths:
    """Resolve paths: ``--config`` beats ``$CODETUNE_CONFIG`` beats the platform default."""
    if config_override is not None:
        config_file, config_origin = Path(config_override), "--config"
    elif os.environ.get(CONFIG_ENV):
        config_file, config_origin = Path(os.environ[CONFIG_ENV]), f"${CONFIG_ENV}"
    else:
        config_file = Path(platformdirs.user_config_dir(APP_NAME)) / CONFIG_FILE_NAME
        config_origin = "platform default"
    if os.environ.get(HOME_ENV):
        data_dir, data_origin = Path(os.environ[HOME_ENV]), f"${HOME_ENV}"
    else:
        data_dir, data_origin = Path(platformdirs.user_data_dir(APP_NAME)), "platform default"
    return Paths(
        config_file=config_file.expanduser(),
        config_file_origin=config_origin,
        data_dir=data_dir.expanduser(),
        data_dir_origin=data_origin,
    )
