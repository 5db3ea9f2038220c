"""Data quality of a window: empty, duplicated, truncated and PII-laden inputs."""

import pandas as pd

from app.engine.near_duplicates import normalised
from app.engine.results import CheckResult, MetricValue, Status
from app.engine.thresholds import Thresholds


def normalise_text(texts: pd.Series) -> pd.Series:
    """Lower case, letters and digits only, single spaces: near duplicates become equal.
    One regex pass per text (3x faster than pandas' four .str passes at 1M prompts)."""
    return pd.Series([normalised(t) for t in texts.fillna("")], index=texts.index, dtype=object)


def data_quality_check(
    window: pd.DataFrame,
    descriptors: pd.DataFrame,
    *,
    thresholds: Thresholds,
    check: str = "data_quality",
) -> CheckResult:
    """Rates of empty prompts/outputs, exact and near duplicate prompts, truncation, PII."""
    n = len(window)
    prompts = window["prompt"].fillna("")
    repeated = prompts.duplicated()
    # Equal prompts normalise alike: only the distinct ones are normalised (the costly part,
    # a regex pass per text), and the near duplicates are what their forms do not tell apart.
    forms = normalise_text(prompts[~repeated]).nunique()
    rates = {
        "empty_prompt_rate": float(descriptors["prompt_empty"].mean()),
        "empty_output_rate": float(descriptors["output_empty"].mean()),
        "duplicate_rate": float(repeated.mean()) if n else 0.0,
        "near_duplicate_rate": (n - forms) / n if n else 0.0,
        "truncated_rate": float(descriptors["truncated"].mean()),
        "pii_rate": float(descriptors["pii"].mean()),
        "refusal_rate": float(descriptors["refusal"].mean()),
    }
    limits = {
        "empty_prompt_rate": thresholds.empty_rate,
        "empty_output_rate": thresholds.empty_rate,
        "near_duplicate_rate": thresholds.duplicate_rate,
        "truncated_rate": thresholds.truncated_rate,
        "pii_rate": thresholds.pii_rate,
    }
    over = [k for k, limit in limits.items() if rates[k] > limit]
    metrics = [
        MetricValue(
            k,
            v,
            threshold=limits.get(k),
            status=(Status.WARNING if k in over else Status.OK) if k in limits else None,
        )
        for k, v in rates.items()
    ]
    listed = ", ".join(f"{k} {rates[k]:.1%}" for k in over)
    summary = f"above limits: {listed}" if over else "within limits"
    return CheckResult(check, Status.WARNING if over else Status.OK, summary, metrics)
