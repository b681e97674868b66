"""Grammars (llama.cpp GBNF) that constrain what a small local model can write.

A JSON schema says which keys an answer has; a grammar also says what the values may hold. For
the servers that take one (llama.cpp and llama-cpp-python: the packaged local model, or
``MIKO_LLM_GRAMMAR=true``) the stages send a grammar instead of a response format, so that:

- every intention value *starts with its relation's template* ("Before posting this Tweet, the
  user needs to "): the model only continues a sentence, which a 135M model does far better than
  following instructions, and the template is never left out nor made up;
- no value can hold a bracket, brace or angle bracket, so a placeholder copied from the prompt
  ("[brief description]", "{concept}", "<person's name>") cannot be written at all; values are
  printable ASCII (the packaged model writes English);
- every value is bounded, so an answer always ends (no runaway repetition up to max_tokens) and
  its time is bounded by the model's speed.

The stages still validate every answer as for any other server (a grammar is never trusted).
"""

from __future__ import annotations

import hashlib
import json

from kg_builder.core.relations import Relation

# Printable ASCII but the JSON string delimiters and brackets of every kind: the packaged
# model writes English, and its vocabulary's look-alike letters (a Cyrillic letter inside an
# English word) cannot slip in.
_FREE = "[ !#-;=?-Z^-z|~]"
# A phrase opens with a letter or digit, so it is never only punctuation or blanks.
_START = "[A-Za-z0-9]"
_WS = 'ws ::= [ \\n]{0,2}'

CONTINUATION_CHARS = 80  # after the template: one clause, as MIKO's references are
PHRASE_CHARS = 40  # a key-information field
KEYWORD_CHARS = 30


def _literal(text: str) -> str:
    """A GBNF string literal for ``text`` (itself JSON-escaped where it is inside a value)."""
    return json.dumps(text)


def _key(name: str) -> str:
    return _literal(f'"{name}":')


def intentions_grammar() -> str:
    """One JSON object with the ten relations in order, each value its template followed by a
    continuation of at most ``CONTINUATION_CHARS`` characters."""
    fields = []
    for r in Relation:
        start = _literal(f'"{r.spec.template} ')
        fields.append(f"{_key(r.value)} ws {start} cont")
    body = ' "," ws '.join(fields)
    return "\n".join([
        f'root ::= "{{" ws {body} ws "}}"',
        f'cont ::= {_START} {_FREE}{{2,{CONTINUATION_CHARS}}} "\\""',  # three characters at least
        _WS, ""])


def key_information_grammar() -> str:
    """Concept, action, object and emotion as short phrases, and three to five keywords."""
    fields = [f"{_key(name)} ws phrase" for name in ("concept", "action", "object", "emotion")]
    fields.append(f'{_key("keywords")} ws "[" ws keyword ("," ws keyword){{2,4}} ws "]"')
    body = ' "," ws '.join(fields)
    return "\n".join([
        f'root ::= "{{" ws {body} ws "}}"',
        f'phrase ::= "\\"" {_START} {_FREE}{{1,{PHRASE_CHARS}}} "\\""',
        f'keyword ::= "\\"" {_START} {_FREE}{{1,{KEYWORD_CHARS}}} "\\""',
        _WS, ""])


def grammar_version(grammar: str) -> str:
    """A short hash of a grammar: part of the answer's version (and so of its cache key)."""
    return hashlib.sha256(grammar.encode()).hexdigest()[:8]
