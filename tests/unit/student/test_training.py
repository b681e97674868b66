"""`miko student train` end to end on a handful of MIKO posts: examples split by post, a few
LoRA steps, the manifest, a resumed checkpoint, the GGUF adapter that llama.cpp loads (and that
reproduces the trained model's logits), and the errors a user can meet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
from kg_builder.core.relations import Relation
from kg_builder.generation.fewshot import Kept, prompt_for
from kg_builder.student.examples import build_examples

POSTS = 14


@pytest.fixture(scope="module")
def release(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))
    path = tmp_path_factory.mktemp("student") / "train.json"
    path.write_text(json.dumps(posts[:POSTS]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(release: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    out = tmp_path_factory.mktemp("student-out") / "student"
    result = CliRunner().invoke(main, ["student", "train", "--references", str(release),
                                       "--out", str(out), "--max-steps", "3", "--batch-size", "2",
                                       "--valid-fraction", "0.2", "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_examples_are_split_by_post_and_prompted_with_other_posts(embedder: Any) -> None:
    posts = [Kept(f"p{n}", f"post {n} about {'cats' if n % 2 else 'the cup final'}",
                  {Relation.X_WANT: f"want {n}", Relation.O_REACT: f"react {n}"})
             for n in range(10)]
    posts.append(Kept("twin", "post 0 about the cup final", {Relation.X_WANT: "twin want"}))
    data = build_examples(posts, embedder, shots=2, valid_fraction=0.2, seed=1)
    assert set(data.train_posts).isdisjoint(data.valid_posts) and len(data.valid_posts) == 2
    for example in data.train + data.valid:
        own = next(p for p in posts if p.id == example.post_id)
        # never the post itself, its twin, nor a validation post among the shots
        shown = [line for line in example.prompt.splitlines() if line.startswith("Post: ")]
        assert shown[-1] == f"Post: {own.text}" and len(shown) == 3
        for line in shown[:-1]:
            assert line != f"Post: {own.text}"
            assert all(line != f"Post: {p.text}" for p in posts if p.id in data.valid_posts)
        assert example.prompt.endswith(example.relation.spec.template)
        assert example.target == f" {own.tails[example.relation]}"
    assert prompt_for(Relation.X_WANT, "x", []).endswith("Post: x\n" + Relation.X_WANT.spec.template)
    assert data.digest() == build_examples(posts, embedder, shots=2, valid_fraction=0.2,
                                           seed=1).digest()


def test_a_few_steps_write_the_adapter_the_manifest_and_a_checkpoint(
        trained: tuple[Path, Any]) -> None:
    out, manifest = trained
    assert manifest["steps"] == 3 and manifest["stopped"] == "3 steps done"
    assert np.isfinite(manifest["best_valid_loss"]) and manifest["valid_losses"]
    assert manifest["base"]["file"].endswith(".gguf") and len(manifest["base"]["sha256"]) == 64
    data = manifest["data"]
    assert data["label"] == 1 and data["train_posts"] + data["valid_posts"] <= POSTS
    assert data["valid_posts"] >= 1 and len(data["sha256"]) == 64
    assert manifest["settings"]["rank"] == 16 and manifest["prompt_version"]
    for name in ("adapter/adapter_model.safetensors", "adapter/adapter_config.json",
                 "adapter.gguf", "manifest.json", "checkpoint/progress.json",
                 "checkpoint/optimizer.pt"):
        assert (out / name).is_file(), name


def test_a_rerun_resumes_from_the_checkpoint_and_other_settings_are_refused(
        release: Path, trained: tuple[Path, Any], tmp_path: Path) -> None:
    out = tmp_path / "student"
    shutil.copytree(trained[0], out)
    args = ["student", "train", "--references", str(release), "--out", str(out),
            "--batch-size", "2", "--valid-fraction", "0.2"]
    resumed = CliRunner().invoke(main, [*args, "--max-steps", "5", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from step 3 of 5" in resumed.stderr
    assert json.loads(resumed.stdout)["steps"] == 5
    refused = CliRunner().invoke(main, [*args, "--max-steps", "6", "--learning-rate", "0.001"])
    assert refused.exit_code == 1 and "written with other settings" in refused.output


def test_the_gguf_adapter_reproduces_the_trained_model_in_llama_cpp(
        trained: tuple[Path, Any], tmp_path: Path) -> None:
    """An adapter with strong query/key weights, exported, gives llama.cpp the logits the peft
    model gives (the rotary permutation applied); unpermuted, it would not."""
    import torch
    from llama_cpp import Llama
    from peft import PeftModel
    from safetensors.torch import load_file, save_file

    import kg_builder.student.gguf_adapter as export
    from kg_builder.student.training import load_base, packaged_base

    strong = tmp_path / "strong"
    shutil.copytree(trained[0] / "adapter", strong)
    weights = load_file(str(strong / "adapter_model.safetensors"))
    generator = torch.Generator().manual_seed(0)
    for key in weights:
        if "lora_B" in key:
            scale = 0.3 if ("q_proj" in key or "k_proj" in key) else 0.0
            weights[key] = torch.randn(weights[key].shape, generator=generator) * scale
    save_file(weights, str(strong / "adapter_model.safetensors"))
    base = packaged_base()
    good = export.export_gguf_adapter(strong, base, tmp_path / "good.gguf")
    model, tokenizer = load_base(base)
    prompt = prompt_for(Relation.X_WANT, "Our team won the cup tonight! The whole town is out", [])
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        plain = model(ids).logits[0, -1].numpy()
        tuned = PeftModel.from_pretrained(model, str(strong))(ids).logits[0, -1].numpy()

    def llama_cpp_logits(adapter: Path) -> Any:
        llm = Llama(model_path=str(base), lora_path=str(adapter), n_ctx=512, logits_all=True,
                    verbose=False, seed=0)
        llm.eval(ids[0].tolist())
        return np.array(llm.scores[ids.shape[1] - 1])

    served = llama_cpp_logits(good)
    assert np.corrcoef(tuned, plain)[0, 1] < 0.95  # the adapter matters
    assert np.corrcoef(tuned, served)[0, 1] > 0.99  # and llama.cpp applies it as peft does


def test_llama_cpp_answers_the_template_with_the_trained_adapter(
        trained: tuple[Path, Any]) -> None:
    from llama_cpp import Llama

    from kg_builder.student.training import packaged_base

    out, _ = trained
    llm = Llama(model_path=str(packaged_base()), lora_path=str(out / "adapter.gguf"), n_ctx=1024,
                verbose=False, seed=0)
    prompt = prompt_for(Relation.X_INTENT, "Finally finished my first marathon!",
                        [("Ran my first 10k today", "celebrate running a race")])
    completion: Any = llm(prompt, max_tokens=24, temperature=0.0, stop=["\n"])
    answer = completion["choices"][0]["text"]
    assert answer.strip() and "Post:" not in answer, answer


def test_miko_build_serves_the_trained_student_on_llama_cpp(
        trained: tuple[Path, Any], release: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No model server: the base writes the key information, the student (its adapter on a
    second llama.cpp server) the intentions, shown the release file's kept intentions."""
    from kg_builder.core.models import PostRecord

    out, manifest = trained
    for name in ("MIKO_LLM_BASE_URL", "MIKO_STUDENT_BASE_URL", "MIKO_STUDENT_SHOTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MIKO_STUDENT", str(out))
    monkeypatch.setenv("MIKO_STUDENT_EXAMPLES", str(release))
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps({"id": "t:1", "text": "Finally finished my first marathon!"})
                     + "\n")
    run = tmp_path / "run.jsonl"
    result = CliRunner().invoke(main, ["build", str(posts), "--out", str(run)])
    assert result.exit_code == 0, result.output
    student = f"student:{manifest['id']}"
    assert f"intentions by {student} (2 examples each from" in result.output
    built = PostRecord.model_validate_json(run.read_text())
    assert [i.relation for i in built.intentions] == list(Relation)
    for i in built.intentions:
        assert i.model == student and i.text.startswith(i.relation.spec.template + " "), i.text


def test_too_small_a_training_set_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    posts = json.loads((data_dir / "miko" / "train.json").read_text(encoding="utf-8"))[:1]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(posts), encoding="utf-8")
    result = CliRunner().invoke(main, ["student", "train", "--references", str(one), "--out",
                                       str(tmp_path / "s")])
    assert result.exit_code == 1 and "the training set is too small" in result.output
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    result = CliRunner().invoke(main, ["student", "train", "--references", str(empty), "--out",
                                       str(tmp_path / "s")])
    assert result.exit_code == 1 and "too small" in result.output
