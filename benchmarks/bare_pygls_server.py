"""Baseline for startup benchmarks: a bare pygls server with no features."""

from pygls.lsp.server import LanguageServer

if __name__ == "__main__":
    LanguageServer("bare-pygls", "0").start_io()
