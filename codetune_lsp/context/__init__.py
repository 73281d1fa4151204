"""Cross-file context for completions: which workspace files may be read (``files``), the
index over them (``index``), the three sources (``sources``) and the service that keeps
the index current and answers one completion's request (``service``)."""
