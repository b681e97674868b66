from pathlib import Path

from kg_builder.embeddings import SentenceTransformerEmbedder
from kg_builder.embeddings.onnx import OnnxEmbedder, agreement


def test_onnx_export_agrees_with_torch(tmp_path: Path) -> None:
    torch_model = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    onnx_model = OnnxEmbedder("all-MiniLM-L6-v2", tmp_path)
    assert onnx_model.path.exists() and onnx_model.path.parent == tmp_path / "onnx"
    assert onnx_model.dimension == torch_model.dimension == 384
    assert onnx_model.model_name == torch_model.model_name
    assert agreement(onnx_model, torch_model) >= 0.999
    texts = ["short", "a much longer sentence about a concert that everyone enjoyed a lot"]
    batch = onnx_model.embed(texts)  # padded batch equals one-by-one
    single = [onnx_model.embed([t])[0] for t in texts]
    assert all(float(batch[i] @ single[i]) > 0.9999 for i in range(2))
    again = OnnxEmbedder("all-MiniLM-L6-v2", tmp_path)  # reuses the export
    assert again.path == onnx_model.path
    two_threads = OnnxEmbedder("all-MiniLM-L6-v2", tmp_path, threads=2)  # MIKO_API_QUERY_EMBED_THREADS
    assert agreement(two_threads, onnx_model) > 0.9999
