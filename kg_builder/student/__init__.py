"""The student: a small model distilled from the kept intentions (LoRA on a packaged base)."""
