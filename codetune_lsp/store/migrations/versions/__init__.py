"""Numbered migration scripts (``NNNN_name.py``); never edit one that has shipped."""
