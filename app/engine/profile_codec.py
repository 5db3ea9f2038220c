"""A baseline profile as bytes that hold only data: JSON settings and numpy arrays.

Profiles used to be pickles: renaming a class broke every stored baseline, and whoever could
write the baselines table could make the worker run code. This format cannot run anything:
an ``.npz`` archive read with ``allow_pickle=False`` whose ``manifest`` is JSON. Each part of
the profile has a section of its own (records, descriptors, vocabulary, embedder,
embeddings) and so does each check's state (``CheckState.to_state`` / ``from_state``). The
format is versioned by ``FORMAT_VERSION``; a blob in any other format (an old pickle) is
refused with ``ProfileFormatError``, and the migration that introduced this format sent
every such baseline back to be profiled again from its records.
"""

import io
import json
import zlib
from typing import Any

import numpy as np
import pandas as pd

from app.engine.checks import REGISTRY
from app.engine.embeddings import Embedder, TfidfSvdEmbedder, make_embedder
from app.engine.window import BaselineProfile

MAGIC = b"DLPROFILE\n"
FORMAT_VERSION = 2


class ProfileFormatError(ValueError):
    """A stored profile this version cannot read (re-profile its baseline)."""


def _frame_state(frame: pd.DataFrame, prefix: str, arrays: dict[str, np.ndarray]) -> list[Any]:
    """Columns as arrays (numbers, flags) or JSON lists (text, None for missing)."""
    columns: list[Any] = []
    for i, name in enumerate(frame.columns):
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            arrays[f"{prefix}/{i}"] = column.to_numpy()
            columns.append({"name": str(name), "array": f"{prefix}/{i}"})
        else:
            values = [None if v is None or v is pd.NA or v != v else str(v) for v in column]
            columns.append({"name": str(name), "values": values})
    return columns


def _frame(columns: list[Any], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    data = {
        c["name"]: arrays[c["array"]] if "array" in c else pd.Series(c["values"], dtype=object)
        for c in columns
    }
    return pd.DataFrame(data)


def _embedder_state(
    embedder: Embedder | None, arrays: dict[str, np.ndarray]
) -> dict[str, Any] | None:
    if embedder is None:
        return None
    if isinstance(embedder, TfidfSvdEmbedder):
        settings, parts = embedder.state()
        arrays.update({f"embedder/{k}": v for k, v in parts.items()})
        return {"name": embedder.name, **settings}
    return {"name": embedder.name}  # pretrained: nothing fitted, rebuilt by name


def _embedder(state: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> Embedder | None:
    if state is None:
        return None
    if state["name"] == TfidfSvdEmbedder.name:
        parts = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("embedder/")}
        return TfidfSvdEmbedder.from_state(state, parts)
    return make_embedder(state["name"])


def _states_state(profile: BaselineProfile, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Each check's state in a section of its own: ``state/<check>/<array>``."""
    out: dict[str, Any] = {}
    for name, state in profile.states.items():
        settings, parts = state.to_state()
        arrays.update({f"state/{name}/{key}": value for key, value in parts.items()})
        out[name] = settings
    return out


def _states(sections: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    types = {check.name: check.state for check in REGISTRY if check.state is not None}
    states: dict[str, Any] = {}
    for name, settings in sections.items():
        if name not in types:  # a check this version no longer has
            continue
        prefix = f"state/{name}/"
        parts = {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
        states[name] = types[name].from_state(settings, parts)
    return states


def encode_profile(profile: BaselineProfile) -> bytes:
    """The profile as non-executable bytes (see the module docstring)."""
    arrays: dict[str, np.ndarray] = {"embeddings": profile.embeddings}
    manifest = {
        "format": FORMAT_VERSION,
        "records": _frame_state(profile.records, "records", arrays),
        "descriptors": _frame_state(profile.descriptors, "descriptors", arrays),
        "vocabulary": sorted(profile.vocab),
        "embedder": _embedder_state(profile.embedder, arrays),
        "embedding_unavailable": profile.embedding_unavailable,
        "meta_numeric": profile.meta_numeric,
        "meta_categorical": profile.meta_categorical,
        "states": _states_state(profile, arrays),
        "unavailable": profile.unavailable,
    }
    arrays["manifest"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return MAGIC + zlib.compress(buffer.getvalue(), 6)


def decode_profile(blob: bytes) -> BaselineProfile:
    """Inverse of ``encode_profile``; ``ProfileFormatError`` for anything else."""
    if not blob.startswith(MAGIC):
        raise ProfileFormatError("not a Driftline profile of this format (re-profile it)")
    try:
        with np.load(io.BytesIO(zlib.decompress(blob[len(MAGIC) :])), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        manifest = json.loads(arrays.pop("manifest").tobytes())
    except (ValueError, OSError, zlib.error) as exc:
        raise ProfileFormatError(f"unreadable profile: {exc}") from exc
    if manifest.get("format") != FORMAT_VERSION:
        raise ProfileFormatError(
            f"profile format {manifest.get('format')!r}, this version reads {FORMAT_VERSION}"
        )
    return BaselineProfile(
        records=_frame(manifest["records"], arrays),
        descriptors=_frame(manifest["descriptors"], arrays),
        vocab=frozenset(manifest["vocabulary"]),
        embedder=_embedder(manifest["embedder"], arrays),
        embeddings=arrays["embeddings"],
        meta_numeric=list(manifest["meta_numeric"]),
        meta_categorical=list(manifest["meta_categorical"]),
        states=_states(manifest["states"], arrays),
        unavailable=dict(manifest["unavailable"]),
        embedding_unavailable=manifest["embedding_unavailable"],
    )
