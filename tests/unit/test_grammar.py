"""The grammars the stages send to llama.cpp servers say what they mean. (That llama.cpp takes
them and what the model then writes: tests/integration/test_local_model.py, through the real
local model.)"""

from __future__ import annotations

from kg_builder.core.relations import Relation
from kg_builder.generation.grammar import (
    CONTINUATION_CHARS,
    grammar_version,
    intentions_grammar,
    key_information_grammar,
)


def test_each_intention_value_starts_with_its_template_in_relation_order() -> None:
    root = intentions_grammar().splitlines()[0]
    starts = [root.index(f'"\\"{r.value}\\":" ws "\\"{r.spec.template} " cont')
              for r in Relation]
    assert starts == sorted(starts)
    cont = next(line for line in intentions_grammar().splitlines() if line.startswith("cont"))
    assert f"{{2,{CONTINUATION_CHARS}}}" in cont
    # printable ASCII but quotes, backslashes, brackets, braces and angle brackets
    allowed = {chr(c) for c in range(0x20, 0x7F)} - set('"\\[]{}<>')
    assert "[ !#-;=?-Z^-z|~]{2," in cont
    ranges = [(" ", " "), ("!", "!"), ("#", ";"), ("=", "="), ("?", "Z"), ("^", "z"),
              ("|", "|"), ("~", "~")]
    assert {chr(c) for a, b in ranges for c in range(ord(a), ord(b) + 1)} == allowed


def test_the_grammar_version_changes_with_the_grammar() -> None:
    assert grammar_version(intentions_grammar()) != grammar_version(key_information_grammar())
    assert len(grammar_version(intentions_grammar())) == 8
