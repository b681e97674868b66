"""The knowledge's quality: benchmark evaluation (BERTScore), the typicality critic, the
distillation export and the downstream sarcasm probe."""
