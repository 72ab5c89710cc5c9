"""A deterministic stand-in for MiniLM in curation tests."""

import hashlib

import numpy as np

from curation.skills import normalize_skill_name


class WordEmbedder:
    """Bag of words: each word a fixed random vector; shared words mean high cosine."""

    def encode(self, texts):
        out = []
        for text in texts:
            vec = np.zeros(64)
            for word in normalize_skill_name(text).replace(":", " ").split():
                seed = int(hashlib.md5(word.encode()).hexdigest()[:8], 16)
                vec += np.random.default_rng(seed).standard_normal(64)
            out.append(vec / (np.linalg.norm(vec) or 1.0))
        return np.array(out)
