"""``miko student``: train the student (LoRA on the packaged base) on the graph's knowledge."""

from __future__ import annotations

from pathlib import Path

import click

from kg_builder.cli.base import command, json_opt, report, say, settings_of
from kg_builder.student.service import TrainSettings, describe_manifest, train_student


@click.group("student")
def student_group() -> None:
    """The student: a small model distilled from the kept intentions (LoRA, offline)."""


@command(student_group, "train",
         click.option("--references", type=click.Path(path_type=Path),
                      help="Train on a MIKO release file's kept intentions instead of the "
                      "graph's (default: the graph's posts of the train split)."),
         click.option("--out", type=click.Path(file_okay=False, path_type=Path),
                      default=Path("student"), show_default=True,
                      help="Folder for the adapter, its manifest and the resumable checkpoint."),
         click.option("--base", type=click.Path(dir_okay=False, path_type=Path),
                      help="Base model, a .gguf file (default: the packaged SmolLM2-135M)."),
         click.option("--min-typicality", type=click.FloatRange(0, 1),
                      help="Only kept intentions of at least this typicality (the graph: the "
                      "critic's score on each edge; a file: the critic in use)."),
         click.option("--epochs", type=click.IntRange(1, 100), default=2, show_default=True),
         click.option("--max-steps", type=click.IntRange(1), help="Stop after this many steps."),
         click.option("--max-minutes", type=click.FloatRange(0, min_open=True),
                      help="Time budget: checkpoint and stop past it (a rerun resumes)."),
         click.option("--batch-size", type=click.IntRange(1, 256), default=4, show_default=True),
         click.option("--learning-rate", type=click.FloatRange(0, 1, min_open=True),
                      default=3e-4, show_default=True),
         click.option("--rank", type=click.IntRange(1, 256), default=16, show_default=True,
                      help="LoRA rank (every projection)."),
         click.option("--shots", type=click.IntRange(0, 10), default=2, show_default=True,
                      help="Most similar training posts' kept intentions shown in each prompt."),
         click.option("--valid-fraction", type=click.FloatRange(0, 0.5, min_open=True),
                      default=0.1, show_default=True, help="Posts held out for validation."),
         click.option("--patience", type=click.IntRange(1), default=2, show_default=True,
                      help="Validations without improvement before stopping early."),
         click.option("--eval-every", type=click.IntRange(1),
                      help="Also validate every this many steps (default: each epoch's end)."),
         click.option("--seed", type=int, default=0, show_default=True), json_opt)
def student_train(ctx: click.Context, references: Path | None, out: Path, base: Path | None,
                  min_typicality: float | None, epochs: int, max_steps: int | None,
                  max_minutes: float | None, batch_size: int, learning_rate: float, rank: int,
                  shots: int, valid_fraction: float, patience: int, eval_every: int | None,
                  seed: int, json_out: Path | None) -> None:
    """Fine-tune the student (LoRA on the base) on the kept intentions (label 1) of the graph's
    train split (or of a release file), each prompted with the most similar other posts' kept
    intentions; validation split by post, early stopping, resumable checkpoints. Writes
    OUT/adapter, OUT/adapter.gguf and OUT/manifest.json."""
    train = TrainSettings(rank=rank, alpha=2 * rank, learning_rate=learning_rate,
                          batch_size=batch_size, epochs=epochs, max_steps=max_steps,
                          patience=patience, eval_every=eval_every, seed=seed, shots=shots,
                          valid_fraction=valid_fraction, min_typicality=min_typicality)
    manifest = train_student(settings_of(ctx), references, out, base, train, max_minutes, say=say)
    report(manifest, json_out, lambda: describe_manifest(manifest, out))


COMMANDS = (student_group,)
