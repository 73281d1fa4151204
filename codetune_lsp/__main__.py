"""Allow ``python -m codetune_lsp``."""

from codetune_lsp.cli import main

if __name__ == "__main__":
    main()
