"""Retraining datasets a fine-tuning job takes: the retraining examples
(``app.exports.retraining``: chosen for a reason, PII-scrubbed, exact copies dropped) with
near-duplicates removed, split by time into train and validation, the train half
class-balanced, written as chat JSONL or Parquet, with a manifest saying how it was made.

Why each step:
- Near-duplicates (``app.engine.near_duplicates``) are removed before the split, so no
  reworded copy of a validation example sits in train and inflates the validation score.
- The split is by time (validation = the newest share): the model is meant for traffic that
  comes after its training data, and a random split would leak the future into training.
- Only train is balanced: validation keeps production's class mix, so its score estimates
  production's.
- The assistant turn is the human label where the event has one (feedback), else the
  model's own output; ``target_source`` in ``provenance.jsonl`` says which, and
  ``labelled_only`` keeps only the former.
"""

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app import __version__
from app.engine import near_duplicates
from app.exports.retraining import REASONS, retraining_examples
from app.monitoring import runs

FORMATS = ("chat-jsonl", "parquet")
MANIFEST = "manifest.json"
PROVENANCE = "provenance.jsonl"
SPLITS = ("train", "validation")
# Classes with fewer examples than this neither set the balancing cap nor are capped.
MIN_CLASS_EXAMPLES = 10


@dataclass(frozen=True)
class DatasetSpec:
    """What to export and how; every field is recorded in the manifest."""

    model: str
    # The model version to be trained on it: its reported metrics are then shown beside
    # production's under this version.
    for_version: str
    since: datetime
    until: datetime
    reasons: tuple[str, ...] = REASONS
    min_score: float = 0.5
    validation_share: float = 0.2
    near_duplicate_threshold: float = near_duplicates.DEFAULT_THRESHOLD
    # No class in train more than this many times the rarest (0: no balancing).
    max_class_ratio: float = 3.0
    labelled_only: bool = False
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        if not self.for_version.strip():
            raise ValueError("for_version: name the model version this dataset is for")
        if not 0 <= self.validation_share < 1:
            raise ValueError(f"validation_share must be in [0, 1), not {self.validation_share}")
        lo, hi = near_duplicates.MIN_THRESHOLD, near_duplicates.MAX_THRESHOLD
        if not lo <= self.near_duplicate_threshold <= hi:
            raise ValueError(f"near_duplicate_threshold must be between {lo} and {hi}")
        if self.max_class_ratio != 0 and self.max_class_ratio < 1:
            raise ValueError("max_class_ratio must be 0 (off) or at least 1")
        if self.since >= self.until:
            raise ValueError("since must be before until")


@dataclass
class Split:
    """The examples of each half and what was dropped on the way."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    counts: dict[str, int] = field(default_factory=dict)
    balanced_out: dict[str, int] = field(default_factory=dict)


def example_class(example: dict[str, Any]) -> str | None:
    """What the example is an instance of: its label, else the model's prediction."""
    value = example.get("label") if example.get("label") is not None else example["prediction"]
    return None if value is None else str(value)


def _target(example: dict[str, Any]) -> tuple[str, str]:
    if example.get("label") is not None:
        return str(example["label"]), "label"
    return str(example.get("output") or ""), "output"


def _balance(
    examples: list[dict[str, Any]], max_ratio: float
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Cap each class at ``max_ratio`` times the rarest class of at least
    ``MIN_CLASS_EXAMPLES``, keeping human-labelled, then more-reasoned, then newer examples.
    Rarer classes and examples without a class are all kept: one stray example of a class
    must not shrink every other class to a handful."""
    sizes = Counter(c for e in examples if (c := example_class(e)) is not None)
    counted = [n for n in sizes.values() if n >= MIN_CLASS_EXAMPLES]
    if max_ratio == 0 or len(counted) < 2:
        return examples, {}
    cap = math.ceil(max_ratio * min(counted))
    # Newest first, then (stable) human-labelled and more-reasoned first.
    rank = sorted(range(len(examples)), key=lambda i: examples[i]["ts"], reverse=True)
    rank.sort(key=lambda i: (examples[i].get("label") is None, -len(examples[i]["reasons"])))
    taken: Counter[str] = Counter()
    keep = set()
    for i in rank:
        c = example_class(examples[i])
        if c is None or taken[c] < cap:
            keep.add(i)
            if c is not None:
                taken[c] += 1
    dropped = {c: n - taken[c] for c, n in sizes.items() if n > taken[c]}
    return [e for i, e in enumerate(examples) if i in keep], dropped


def split_examples(examples: list[dict[str, Any]], spec: DatasetSpec) -> Split:
    """Filter, de-duplicate, split by time and balance ``examples`` (oldest first)."""
    counts = {"candidates": len(examples)}
    if spec.labelled_only:
        examples = [e for e in examples if e.get("label") is not None]
        counts["unlabelled_dropped"] = counts["candidates"] - len(examples)
    copies = near_duplicates.first_copies(
        [e["prompt"] or "" for e in examples], threshold=spec.near_duplicate_threshold
    )
    unique = [e for e, twin in zip(examples, copies, strict=True) if twin is None]
    counts["near_duplicates_removed"] = len(examples) - len(unique)
    unique.sort(key=lambda e: e["ts"])
    n_validation = round(len(unique) * spec.validation_share)
    if spec.validation_share > 0 and len(unique) >= 2:
        n_validation = min(max(n_validation, 1), len(unique) - 1)
    cut = len(unique) - n_validation
    train, dropped = _balance(unique[:cut], spec.max_class_ratio)
    counts["balanced_out"] = sum(dropped.values())
    return Split(train, unique[cut:], counts, dropped)


def chat_messages(example: dict[str, Any], system_prompt: str | None) -> list[dict[str, str]]:
    """The ``messages`` list of OpenAI's and TRL's chat fine-tuning format."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return [
        *messages,
        {"role": "user", "content": example["prompt"] or ""},
        {"role": "assistant", "content": _target(example)[0]},
    ]


def _provenance(example: dict[str, Any]) -> dict[str, Any]:
    return {
        "request_id": example["request_id"],
        "ts": example["ts"],
        "model_version": example["model_version"],
        "reasons": example["reasons"],
        "class": example_class(example),
        "target_source": _target(example)[1],
    }


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_parquet(path: Path, examples: list[dict[str, Any]], spec: DatasetSpec) -> None:
    # pyarrow comes with the engine extra; the api never writes datasets.
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"messages": chat_messages(e, spec.system_prompt), **_provenance(e)} for e in examples]
    schema = pa.schema(
        [
            ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("request_id", pa.string()),
            ("ts", pa.string()),
            ("model_version", pa.string()),
            ("reasons", pa.list_(pa.string())),
            ("class", pa.string()),
            ("target_source", pa.string()),
        ]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)


def _files(out: Path, fmt: str) -> dict[str, Path]:
    if fmt == "chat-jsonl":
        return {s: out / f"{s}.jsonl" for s in SPLITS}
    # The Hugging Face hub layout: `datasets.load_dataset(out)` names the splits from it.
    return {s: out / "data" / f"{s}-00000-of-00001.parquet" for s in SPLITS}


def export_dataset(
    session: Session,
    spec: DatasetSpec,
    out: Path,
    *,
    fmt: str = "chat-jsonl",
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Write the dataset and its manifest into ``out`` (created; refused if it already holds
    a dataset) and return the manifest."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: choose from {list(FORMATS)}")
    if (out / MANIFEST).exists():
        raise ValueError(f"{out} already holds a dataset ({MANIFEST}): choose another directory")
    examples = []
    for example in retraining_examples(
        session, model=spec.model, since=spec.since, until=spec.until,
        reasons=spec.reasons, min_score=spec.min_score,
    ):  # fmt: skip
        examples.append(example)
        if len(examples) % 1000 == 0:
            progress(f"{len(examples)} examples read")
    progress(f"{len(examples)} examples read; removing near-duplicates")
    split = split_examples(examples, spec)
    out.mkdir(parents=True, exist_ok=True)
    files = _files(out, fmt)
    halves = {"train": split.train, "validation": split.validation}
    for name, rows in halves.items():
        progress(f"writing {len(rows)} {name} examples")
        if fmt == "chat-jsonl":
            _write_jsonl(files[name], ({"messages": chat_messages(e, spec.system_prompt)}
                                       for e in rows))  # fmt: skip
        else:
            _write_parquet(files[name], rows, spec)
    _write_jsonl(
        out / PROVENANCE,
        ({"split": name, **_provenance(e)} for name, rows in halves.items() for e in rows),
    )
    manifest = {
        "model": spec.model,
        "for_version": spec.for_version,
        "created_at": datetime.now(UTC).isoformat(),
        "driftline_version": __version__,
        "format": fmt,
        "source": {
            "since": spec.since.isoformat(),
            "until": spec.until.isoformat(),
            "reasons": list(spec.reasons),
            "reason_counts": dict(Counter(r for e in examples for r in e["reasons"])),
            "drifted_windows": [
                {"start": s.isoformat(), "end": e.isoformat()}
                for s, e in runs.drifted_windows(
                    session, model=spec.model, since=spec.since, until=spec.until
                )
            ],
        },
        "filters": {
            **{
                k: v
                for k, v in asdict(spec).items()
                if k in ("min_score", "labelled_only", "max_class_ratio", "system_prompt")
            },
            "pii": "scrubbed: emails, phones, cards, IBANs, IPs replaced by <EMAIL> etc.",
            "exact_duplicates": "prompts with the same words (any case/punctuation) once",
            "near_duplicates": {
                "method": "minhash",
                "shingles": f"character {near_duplicates.SHINGLE}-grams of lower-cased words",
                "num_perm": near_duplicates.NUM_PERM,
                "threshold": spec.near_duplicate_threshold,
            },
        },
        "split": {
            "by": "time",
            "validation_share": spec.validation_share,
            "validation_from": split.validation[0]["ts"] if split.validation else None,
        },
        "counts": {
            **split.counts,
            "train": len(split.train),
            "validation": len(split.validation),
            "targets_from_labels": sum(
                e.get("label") is not None for rows in halves.values() for e in rows
            ),
        },
        "classes": {
            name: dict(Counter(str(example_class(e)) for e in rows))
            for name, rows in halves.items()
        },
        "balanced_out": split.balanced_out,
        "files": {
            name: {
                "path": str(path.relative_to(out)),
                "rows": len(halves[name]),
                "sha256": _sha256(path),
            }
            for name, path in files.items()
        },
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


def dataset_summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a version's record keeps of its dataset's manifest (not the per-class counts)."""
    return {
        "created_at": manifest["created_at"],
        "format": manifest["format"],
        "since": manifest["source"]["since"],
        "until": manifest["source"]["until"],
        "reasons": manifest["source"]["reasons"],
        "drifted_windows": len(manifest["source"]["drifted_windows"]),
        "train": manifest["counts"]["train"],
        "validation": manifest["counts"]["validation"],
        "validation_from": manifest["split"]["validation_from"],
    }
