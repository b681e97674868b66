"""Hostile JSONL records of issue #27, shared by the reader tests (tests/unit/inputs) and the
loads against the real server (tests/integration/test_hostile_loads.py): each is one line, with
the finding it belongs to and what its rejection must say."""

from __future__ import annotations

import json
from typing import Any

EXPANDS = "\ufb2c"  # one character, three once NFC-normalised
WANT = "After posting this Tweet, the user wants to rest."
DEEP = "[" * 100_000 + "]" * 100_000


def line(**fields: Any) -> str:
    return json.dumps({"id": "bad", "text": "a post", **fields})


def raw(fields: str) -> str:
    return '{"id": "bad", "text": "a post", ' + fields + "}"


# (finding of issue #27, name, the bad JSONL line, what its rejection says)
BAD_LINES: list[tuple[str, str, str, str]] = [
    # 8: one bad value ends nothing
    ("8", "number of 4,301 digits", raw('"count": ' + "7" * 4301), "4,301 digits (more than 4,300)"),
    ("8", "number of 5,000 digits in an ignored field", raw('"Count": -' + "7" * 5000), "5,000 digits"),
    ("8", "integer 2^64", line(count=2**64), "outside Neo4j's signed 64-bit range"),
    ("8", "integer 2^63", line(count=2**63), "outside Neo4j's signed 64-bit range"),
    ("8", "integer -2^63-1", line(count=-(2**63) - 1), "outside Neo4j's signed 64-bit range"),
    ("8", "integer 2^64 as a label", line(intentions=[{"relation": "xWant", "text": WANT,
                                                  "label": 2**64}]), "label"),
    ("8", "integer 2^64 as a benchmark label", line(benchmark_labels=[2**64] + [0] * 9),
     "benchmark_labels"),
    ("8", "NUL in the image path", line(image="cat\u0000.jpg"), "image: file: Value error, contains a NUL"),
    ("8", "lone surrogate in the image path", raw('"image": "cat\\ud800.jpg"'), "image: file:"),
    ("8", "image path of 1,025 characters", line(image="a" * 1021 + ".jpg"), "at most 1024 characters"),
    # 9: limits on what is stored
    ("9", "id of 512 characters, 1,536 once NFC", line(id=EXPANDS * 512),
     "id: Value error, should have at most 512 characters once normalised (it has 1,536)"),
    ("9", "text of 10,000 characters, 30,000 once NFC", line(text=EXPANDS * 10_000),
     "text: Value error, should have at most 10000 characters once normalised (it has 30,000)"),
    ("9", "image path of 400 characters, 1,200 once NFC", line(image=EXPANDS * 400),
     "at most 1024 characters once normalised"),
    # 11: the contract as the README says it
    ("11", "id of control characters", line(id="\u0001\u0002\u0003"), "id: Value error, has no visible"),
    ("11", "id of zero-width characters", line(id="\u200b\u2060"), "id: Value error, has no visible"),
    ("11", "text of zero-width characters", line(text="\u200b\u200c\u200d\ufeff"),
     "text: Value error, has no visible"),
    ("11", "sentence of zero-width characters", line(intentions={"xWant": "\u200b \u200b"}),
     "intentions[0]: text: Value error, has no visible"),
    ("11", "relation 'x-w-a-n-t !!'", line(intentions={"x-w-a-n-t !!": WANT}),
     "unknown relation 'x-w-a-n-t !!'"),
    ("11", "relation '9xWant9'", line(intentions={"9xWant9": WANT}), "unknown relation '9xWant9'"),
    ("11", "relation ['xWant']", line(intentions=[{"relation": ["xWant"], "text": WANT}]),
     "unknown relation of type list"),
    ("11", "relation 5", line(intentions=[{"relation": 5, "text": WANT}]), "unknown relation of type int"),
    ("11", "label -1", line(intentions=[{"relation": "xWant", "text": WANT, "label": -1}]),
     "label: Input should be greater than or equal to 0"),
    ("11", "label true", line(intentions=[{"relation": "xWant", "text": WANT, "label": True}]),
     "label: Input should be a valid integer"),
    ("11", "label 1.0", line(intentions=[{"relation": "xWant", "text": WANT, "label": 1.0}]),
     "label: Input should be a valid integer"),
    ("11", "label '1'", line(intentions=[{"relation": "xWant", "text": WANT, "label": "1"}]),
     "label: Input should be a valid integer"),
    ("11", "two benchmark labels", line(benchmark_labels=[1, 0]),
     "benchmark_labels: List should have at least 10 items"),
    ("11", "eleven benchmark labels", line(benchmark_labels=[1] * 11),
     "benchmark_labels: List should have at most 10 items"),
    ("11", "benchmark labels true", line(benchmark_labels=[True] * 10), "benchmark_labels.0"),
    ("11", "label vote 7", line(intentions=[{"relation": "xWant", "text": WANT,
                                       "label_votes": [0, 7]}]), "label_votes.1"),
    ("11", "label vote true", line(intentions=[{"relation": "xWant", "text": WANT,
                                          "label_votes": [True]}]), "label_votes.0"),
    ("11", "id true", raw('"id": true').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("11", "id 1.5", raw('"id": 1.5').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("11", "id null", raw('"id": null').replace('"id": "bad", ', ""), "'id' must be a JSON string"),
    ("11", "id missing", json.dumps({"text": "a post"}), "missing 'id'"),
    ("11", "NaN", raw('"score": NaN'), "NaN is not a JSON number"),
    ("11", "Infinity", raw('"score": Infinity'), "Infinity is not a JSON number"),
    ("11", "-Infinity", raw('"score": -Infinity'), "-Infinity is not a JSON number"),
    ("11", "1e400", raw('"score": 1e400'), "1e400 is too large"),
    ("11", "nested 100,000 deep", raw('"deep": ' + DEEP), "nested too deeply"),
    ("11", "image without a name", line(image={"description": "a cat"}), "needs a file name"),
    ("11", "source that is not a string", line(source={"a": 1}), "'source' must be a string"),
]


