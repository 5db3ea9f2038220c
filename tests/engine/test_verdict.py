"""Persistence before drift, and when retraining is recommended."""

from app.engine.results import CheckResult, Status
from app.engine.thresholds import Thresholds
from app.engine.verdict import decide

T = Thresholds()
DRIFT = CheckResult("embedding_drift", Status.DRIFT, "moved")
OK = CheckResult("quality", Status.OK, "fine")
DEGRADED = CheckResult("quality", Status.DEGRADED, "f1 dropped")


def test_one_drifting_window_is_a_warning_two_of_three_are_drift() -> None:
    first = decide([DRIFT, OK], thresholds=T)
    assert first.status is Status.WARNING and first.drift_signal
    second = decide([DRIFT, OK], thresholds=T, drift_history=[False, True])
    assert second.status is Status.DRIFT and not second.retraining_recommended


def test_retraining_after_three_consecutive_drifting_windows_and_it_stays_on() -> None:
    third = decide([DRIFT], thresholds=T, drift_history=[True, True])
    assert third.status is Status.DRIFT and third.retraining_recommended
    calm = decide([OK], thresholds=T, drift_history=[True, True, True], previously_recommended=True)
    assert calm.status is Status.OK and calm.retraining_recommended


def test_degraded_quality_needs_no_persistence() -> None:
    v = decide([DEGRADED, OK], thresholds=T)
    assert v.status is Status.DEGRADED and v.retraining_recommended


def test_no_check_with_data_is_insufficient_data_never_ok() -> None:
    v = decide([CheckResult("quality", Status.INSUFFICIENT_DATA, "3 labels")], thresholds=T)
    assert v.status is Status.INSUFFICIENT_DATA


def test_overrides_are_validated() -> None:
    assert T.with_overrides({"text_auc": 0.8}).text_auc == 0.8
    try:
        T.with_overrides({"text_acu": 0.8})
    except ValueError as exc:
        assert "text_acu" in str(exc)
    else:
        raise AssertionError("a misspelt threshold must not be ignored")
