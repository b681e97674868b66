"""The peft LoRA adapter as a GGUF adapter that llama.cpp loads beside its base (``--lora``).

What llama.cpp's own ``convert_lora_to_gguf.py`` writes for a Llama-architecture base, written
here with the ``gguf`` package alone (the script needs the whole llama.cpp source tree and the
base model's Hugging Face config, which a GGUF base does not ship):

- metadata ``general.architecture`` (from the base), ``general.type = adapter``,
  ``adapter.type = lora`` and ``adapter.lora.alpha``;
- for every adapted weight, ``<gguf name>.lora_a`` (rank x in) and ``<gguf name>.lora_b``
  (out x rank), f32, named by gguf's own tensor-name map;
- the query and key projections' ``lora_b`` rows permuted as the converter permutes those
  weights for rotary embeddings (transformers' GGUF loader undid that permutation when it read
  the base, so the adapter was trained in the unpermuted layout).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kg_builder.core.errors import StudentError

LORA_NAME = re.compile(
    r"^base_model\.model\.(?P<base>model\.layers\.\d+\.[a-z_]+\.[a-z_]+)\.lora_(?P<ab>[AB])\.weight$")


def _permute(rows: npt.NDArray[np.float32], heads: int) -> npt.NDArray[np.float32]:
    """convert_hf_to_gguf's rotary permutation of a projection's rows (heads x 2 x half)."""
    out = rows.reshape(heads, 2, rows.shape[0] // heads // 2, *rows.shape[1:])
    permuted: npt.NDArray[np.float32] = out.swapaxes(1, 2).reshape(rows.shape)
    return permuted


def base_metadata(base: Path) -> dict[str, Any]:
    """Architecture, block count and head counts of a GGUF base."""
    import gguf

    reader = gguf.GGUFReader(str(base))

    def value(key: str) -> Any:
        field = reader.fields.get(key)
        if field is None:
            return None
        return field.contents()

    arch = value("general.architecture")
    if arch != "llama":
        raise StudentError(f"{base}: a {arch!r} base; the adapter export supports Llama-"
                           "architecture bases (SmolLM2 is one)")
    return {"architecture": arch, "blocks": int(value(f"{arch}.block_count")),
            "heads": int(value(f"{arch}.attention.head_count")),
            "kv_heads": int(value(f"{arch}.attention.head_count_kv")
                            or value(f"{arch}.attention.head_count"))}


def export_gguf_adapter(adapter_dir: Path, base: Path, out: Path) -> Path:
    """Write ``out`` (a .gguf adapter) from the peft adapter in ``adapter_dir``."""
    import json

    import gguf
    from safetensors.numpy import load_file

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    meta = base_metadata(base)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, meta["blocks"])
    pairs: dict[str, dict[str, npt.NDArray[np.float32]]] = {}
    for key, array in tensors.items():
        found = LORA_NAME.match(key)
        if found is None:
            raise StudentError(f"{adapter_dir}: unexpected tensor {key!r} in the adapter (only "
                               "LoRA A/B weights of the decoder layers can be exported)")
        pairs.setdefault(found["base"], {})[found["ab"]] = np.asarray(array, dtype=np.float32)
    writer = gguf.GGUFWriter(str(out), meta["architecture"])
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for hf_name in sorted(pairs):
        a, b = pairs[hf_name]["A"], pairs[hf_name]["B"]
        gguf_name = names.get_name(f"{hf_name}.weight", try_suffixes=(".weight",))
        if gguf_name is None:
            raise StudentError(f"no GGUF name for {hf_name!r}")
        if hf_name.endswith("q_proj"):
            b = _permute(b, meta["heads"])
        elif hf_name.endswith("k_proj"):
            b = _permute(b, meta["kv_heads"])
        # f16, as llama.cpp's own convert_lora_to_gguf.py writes by default: half the size
        writer.add_tensor(f"{gguf_name}.lora_a", np.ascontiguousarray(a, dtype=np.float16))
        writer.add_tensor(f"{gguf_name}.lora_b", np.ascontiguousarray(b, dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out
