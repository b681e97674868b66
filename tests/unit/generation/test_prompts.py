from pathlib import Path

import pytest

from kg_builder.core.errors import PromptTemplateError
from kg_builder.generation.prompts import load_template


def test_shipped_prompts_load_with_their_placeholders() -> None:
    image = load_template("image_description", {"post_text"})
    assert image.render(post_text="Hi {there}") == (
        'Based on the following text "Hi {there}", please describe the current image in detail.\n')
    key = load_template("key_information", {"post_text", "image_description"})
    assert "three to five keywords" in key.text and len(key.version) == 12
    load_template("intentions", {"relation_templates", "post_text", "image_description",
                                 "key_information"})


def test_wrong_placeholders_are_refused(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("Hello {name} and {other}")
    with pytest.raises(PromptTemplateError, match=r"placeholders .*'name', 'other'.* fills .*'name'"):
        load_template("p", {"name"}, tmp_path)
    (tmp_path / "q.txt").write_text("unbalanced { brace")
    with pytest.raises(PromptTemplateError, match="literal braces"):
        load_template("q", {"x"}, tmp_path)
    with pytest.raises(PromptTemplateError, match="cannot be read"):
        load_template("missing", set(), tmp_path)


def test_version_changes_with_the_text(tmp_path: Path) -> None:
    (tmp_path / "p.txt").write_text("A {x}")
    a = load_template("p", {"x"}, tmp_path).version
    (tmp_path / "p.txt").write_text("B {x}")
    assert load_template("p", {"x"}, tmp_path).version != a
