"""codetune-lsp: an AI language server backed by versioned prompt templates."""

__version__ = "0.1.0"
