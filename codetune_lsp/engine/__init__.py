"""The engine: the one path from a feature's request to a recorded, typed result.

``request`` (what features hand in and get back), ``fit`` (fitting text to a window),
``generation`` (rendering), ``memory`` (the in-process response cache), ``core`` (the path).
"""

from codetune_lsp.engine.core import RESERVED_TOKENS, Engine
from codetune_lsp.engine.fit import AroundCursor, NumberedChunks
from codetune_lsp.engine.generation import build_generation, check_variables, fim_markers
from codetune_lsp.engine.request import (
    EngineError,
    EngineRequest,
    EngineResult,
    Fit,
    OutputInvalid,
    Piece,
)

__all__ = [
    "RESERVED_TOKENS",
    "AroundCursor",
    "Engine",
    "EngineError",
    "EngineRequest",
    "EngineResult",
    "Fit",
    "NumberedChunks",
    "OutputInvalid",
    "Piece",
    "build_generation",
    "check_variables",
    "fim_markers",
]
