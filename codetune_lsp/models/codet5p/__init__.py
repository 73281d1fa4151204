"""Native CodeT5+ 2B/6B/16B (encoder-decoder, CodeGen-shaped stacks) for the local backend.

Importing this package is cheap: torch and transformers are only imported by its submodules
(``configuration``, ``modeling``, ``checkpoint``, ``loader``, ``memory``); ``shapes`` is data.
"""

from __future__ import annotations

#: The ``architectures`` entry of the published config.json; profile rows use it too.
ARCHITECTURE = "CodeT5pEncoderDecoderModel"
