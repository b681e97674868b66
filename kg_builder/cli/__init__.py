"""The ``miko`` command's groups, one module each; ``cli.py`` (the entry point) assembles them.

A command here parses its options, calls one job (``kg_builder.jobs``) or service (a feature's
``service`` module), and prints what that returns through its ``describe()``: no driver, no
Cypher and no settings wired into constructors (``tests/unit/cli/test_thin.py``).
"""
