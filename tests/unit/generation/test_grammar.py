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
    end = cont.index("]{2,")
    klass = cont[cont.rindex("[", 0, end) + 1:end]  # the grammar's own character class
    accepted: set[str] = set()
    i = 0
    while i < len(klass):
        if i + 2 < len(klass) and klass[i + 1] == "-":
            accepted |= {chr(c) for c in range(ord(klass[i]), ord(klass[i + 2]) + 1)}
            i += 3
        else:
            accepted.add(klass[i])
            i += 1
    assert accepted == allowed


def test_the_grammar_version_changes_with_the_grammar() -> None:
    assert grammar_version(intentions_grammar()) != grammar_version(key_information_grammar())
    assert len(grammar_version(intentions_grammar())) == 8
