"""Inputs: the readers of the input formats (MIKO release, Twitter sarcasm, JSONL, CSV), the
streaming JSON array reader and the bounded line reader. Every record is checked here; a bad
one becomes a ``Rejection`` with its location and reason."""
