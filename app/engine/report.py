"""The per-window HTML report, rendered by Evidently, safe to open in a browser.

Evidently 0.7 writes report data into ``<script>`` blocks with ``json.dumps`` and does not
escape ``</``: a logged prompt holding ``</script><script>…`` would run in the viewer's
browser. Every string that reaches Evidently is therefore neutralised first: ``<`` and ``>``
become look-alike characters (U+2039/U+203A), so no tag can open or close, and the text stays
readable. The API still serves reports with a strict CSP in a sandbox (defence in depth).
"""

import re
import warnings
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from app.engine import descriptors as desc
from app.engine.text_drift import TEXT_DRIFT_MAX_ROWS
from app.engine.thresholds import Thresholds
from app.engine.window import BaselineProfile, WindowResult

_NEUTRAL = str.maketrans({"<": "\u2039", ">": "\u203a", "\x00": "\ufffd"})
# Reports embed raw rows; past this many per side they get slow and large for no insight.
REPORT_MAX_ROWS = TEXT_DRIFT_MAX_ROWS


# Evidently's dataset-level headline ("Dataset Drift is NOT detected") applies its own rule
# (a share of drifted columns) and can contradict Driftline's verdict printed above it.
_DATASET_HEADLINE = re.compile(
    r"Dataset Drift is (NOT detected|detected)\. Dataset drift detection threshold is ([0-9.]+)"
)


def relabel_dataset_headline(html: str) -> str:
    """Recast Evidently's dataset-level verdict as what it is: its per-column view."""

    def recast(m: re.Match[str]) -> str:
        met = "met" if m.group(1) == "detected" else "not met"
        return (
            f"Evidently's per-column view: its own rule (drift in at least {m.group(2)} of "
            f"columns) is {met}. Driftline's verdict, above, weighs every check"
        )

    return _DATASET_HEADLINE.sub(recast, html)


def neutralise(value: object) -> object:
    """``<`` and ``>`` replaced in strings; anything else unchanged."""
    return value.translate(_NEUTRAL) if isinstance(value, str) else value


def _frame(descriptors: pd.DataFrame, records: pd.DataFrame, seed: int) -> pd.DataFrame:
    cols = [c for c in [*desc.NUMERIC, "prompt_oov_share", "output_oov_share"] if c in descriptors]
    frame = descriptors[cols].astype(float).copy()
    for flag in desc.FLAGS:
        frame[flag] = descriptors[flag].astype(str)
    if "language" in descriptors:
        frame["language"] = descriptors["language"].astype(str)
    frame["prompt"] = records["prompt"].fillna("").astype(str).to_numpy()
    for col in ("prediction", "label"):
        if col in records and records[col].notna().any():
            frame[col] = records[col].astype(str).to_numpy()
    if len(frame) > REPORT_MAX_ROWS:
        frame = frame.sample(REPORT_MAX_ROWS, random_state=seed)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].map(neutralise)
    return frame


@dataclass(frozen=True)
class Headline:
    """What a report's header says: the window's verdict and why."""

    verdict: str
    reasons: list[str]
    n_events: int
    retraining_recommended: bool

    @classmethod
    def of(cls, result: WindowResult) -> "Headline":
        """The headline of a window result just computed."""
        return cls(
            result.status.value, list(result.reasons), result.n_events,
            result.retraining_recommended,
        )  # fmt: skip


def render_report(
    profile: BaselineProfile,
    window: pd.DataFrame,
    descriptors: pd.DataFrame,
    headline: Headline,
    *,
    title: str = "Driftline window report",
    thresholds: Thresholds | None = None,
    seed: int = 0,
) -> str:
    """Self-contained HTML: drift of every descriptor and the prompt text, and (with labels)
    classification quality, window (current) vs baseline (reference). ``descriptors``: the
    window's per-event descriptors (as ``evaluate_window`` takes them)."""
    from evidently import DataDefinition, Dataset, MulticlassClassification, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    thresholds = thresholds or Thresholds()
    if window.empty:
        raise ValueError("the window has no events (deleted by retention?)")
    window = window.reset_index(drop=True)
    cur = _frame(descriptors.reset_index(drop=True), window, seed)
    ref = _frame(profile.descriptors, profile.records, seed)
    shared = [c for c in cur.columns if c in ref.columns]
    cur, ref = cur[shared], ref[shared]
    numeric = [c for c in shared if cur[c].dtype != object]
    categorical = [c for c in shared if c not in numeric and c != "prompt"]
    labelled = "prediction" in shared and "label" in shared
    if labelled:
        # Evidently 0.7's classification widgets raise KeyError when the window has a class
        # the reference lacks — exactly when a new topic arrives. Leave quality out then
        # (Driftline's own quality check still covers it) rather than lose the report.
        cur_classes = set(cur["prediction"]) | set(cur["label"])
        ref_classes = set(ref["prediction"]) | set(ref["label"])
        labelled = cur_classes <= ref_classes
    definition = DataDefinition(
        numerical_columns=numeric,
        categorical_columns=categorical,
        text_columns=["prompt"],
        classification=(
            [MulticlassClassification(target="label", prediction_labels="prediction")]
            if labelled
            else None
        ),
    )
    # The same effect-size methods and thresholds as Driftline's descriptor and text checks,
    # so the report's per-column verdicts match (Driftline additionally requires FDR-corrected
    # significance, which Evidently's widgets do not show).
    metrics: list[object] = [
        DataDriftPreset(
            columns=[*numeric, *categorical, "prompt"],
            drift_share=thresholds.drifted_share,
            num_method="wasserstein",
            num_threshold=thresholds.wasserstein,
            cat_method="jensenshannon",
            cat_threshold=thresholds.jensenshannon,
            # Evidently's default for a reference of <= 1,000 rows bootstraps the domain
            # classifier (about 10 s per report here); Driftline's text check is the plain
            # classifier's ROC AUC, so the report shows that, at Driftline's threshold.
            text_method="abs_text_content_drift",
            text_threshold=thresholds.text_auc,
        )
    ]
    if labelled:
        metrics.append(ClassificationPreset())
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Evidently's correlation widgets divide by zero on constant columns (flags that are
        # all False): harmless, and not worth a line in the worker's log per window.
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report(metrics).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    html: str = relabel_dataset_headline(snapshot.get_html_str(as_iframe=False))
    reasons = "".join(f"<li>{escape(r)}</li>" for r in headline.reasons) or "<li>no findings</li>"
    header = (
        '<div style="font-family:sans-serif;margin:16px 20px;padding:12px 16px;'
        'border:1px solid #ccc;border-radius:6px">'
        f'<h2 style="margin:0 0 6px">{escape(title)}: verdict <b>{escape(headline.verdict)}</b>'
        f"{' — retraining recommended' if headline.retraining_recommended else ''}</h2>"
        f'<ul style="margin:0">{reasons}</ul>'
        f'<p style="margin:6px 0 0;color:#555">{headline.n_events} events in the window. '
        "Below: Evidently's view of the window (current) against the baseline (reference).</p>"
        "</div>"
    )
    html = html.replace("<body>", "<body>" + header, 1)
    return html
