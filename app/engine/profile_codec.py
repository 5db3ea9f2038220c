"""A baseline profile as bytes that hold only data: JSON settings and numpy arrays.

Profiles used to be pickles: renaming a class broke every stored baseline, and whoever could
write the baselines table could make the worker run code. This format cannot run anything: a
JSON header (the ``manifest`` and a table of arrays: dtype, shape, offset) followed by the
arrays' raw bytes, zlib-compressed; an object dtype is refused. Each part of the profile has
a section of its own (records, descriptors, vocabulary, embedder, embeddings) and so does
each check's state (``CheckState.to_state`` / ``from_state``). The format is versioned by
``FORMAT_VERSION``. Format 2 held the same sections in an ``.npz`` archive (read with
``allow_pickle=False``); it is still read, but a worker decodes its monitor's profile for
every window, and the archive's 25-odd zip members and their headers cost 1.4 ms of a small
window's ≈ 40. A blob in any other format (an old pickle) is refused with
``ProfileFormatError``; the migration that introduced format 2 sent every such baseline
back to be profiled again from its records.
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
FORMAT_VERSION = 3
# Format 3's payload: this, the header's length (8 bytes, little-endian), the header, then
# the arrays, each at an offset aligned to 8 bytes.
_LAYOUT = b"DLARRAYS"
# Format 2's payload: a zip archive (.npz).
_NPZ = b"PK"
_ALIGN = 8


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


def _sections(profile: BaselineProfile) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The profile as a JSON-able manifest and named arrays."""
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
    return manifest, arrays


def _aligned(offset: int) -> int:
    return offset + -offset % _ALIGN


def _pack(manifest: dict[str, Any], arrays: dict[str, np.ndarray]) -> bytes:
    """Format 3's payload (see ``_LAYOUT``)."""
    table: dict[str, list[Any]] = {}
    offset = 0
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(f"{name}: an object array is not data")
        table[name] = [array.dtype.str, list(array.shape), offset]
        offset = _aligned(offset + array.nbytes)
    header = json.dumps({"manifest": manifest, "arrays": table}).encode()
    out = bytearray(_LAYOUT + len(header).to_bytes(8, "little") + header)
    out += bytes(-len(out) % _ALIGN)
    for array in arrays.values():
        out += np.ascontiguousarray(array).tobytes()
        out += bytes(-len(out) % _ALIGN)
    return bytes(out)


def _unpack(raw: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The manifest and arrays of a format 3 or format 2 payload; ValueError for others."""
    if raw.startswith(_NPZ):
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
        return json.loads(arrays.pop("manifest").tobytes()), arrays
    if not raw.startswith(_LAYOUT):
        raise ValueError("not a profile payload")
    start = len(_LAYOUT) + 8
    length = int.from_bytes(raw[len(_LAYOUT) : start], "little")
    header = json.loads(raw[start : start + length])
    base = _aligned(start + length)
    # A writable copy: the arrays are views of it, and a check may work on them in place.
    buffer = bytearray(raw)
    arrays = {}
    for name, (dtype, shape, offset) in header["arrays"].items():
        kind = np.dtype(dtype)
        if kind.hasobject or offset < 0:
            raise ValueError(f"{name}: not an array of data at offset {offset}")
        count = int(np.prod(shape, dtype=np.int64))
        arrays[name] = np.frombuffer(buffer, kind, count, base + offset).reshape(shape)
    return header["manifest"], arrays


def encode_profile(profile: BaselineProfile) -> bytes:
    """The profile as non-executable bytes (see the module docstring)."""
    return MAGIC + zlib.compress(_pack(*_sections(profile)), 6)


def decode_profile(blob: bytes) -> BaselineProfile:
    """Inverse of ``encode_profile`` (formats 3 and 2); ``ProfileFormatError`` for
    anything else."""
    if not blob.startswith(MAGIC):
        raise ProfileFormatError("not a Driftline profile of this format (re-profile it)")
    try:
        manifest, arrays = _unpack(zlib.decompress(blob[len(MAGIC) :]))
        if manifest.get("format") not in (2, FORMAT_VERSION):
            raise ProfileFormatError(
                f"profile format {manifest.get('format')!r}, this version reads 2 and "
                f"{FORMAT_VERSION}"
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
    except ProfileFormatError:
        raise
    except (ValueError, TypeError, KeyError, OSError, zlib.error) as exc:
        # A section missing or not what it says (a truncated or foreign blob).
        raise ProfileFormatError(f"unreadable profile: {exc!r}") from exc
