"""Evaluation: fixed suites run through the product's own engine path, scored, stored as
immutable runs, compared item by item, and used to gate the promotion of prompt versions.

Modules: ``sandbox`` (untrusted test code), ``suites`` (the items), ``targets`` (the one
adapter to the engine and features), ``runner`` (resumable runs), ``scoring``, ``compare``
and ``gate``.
"""
