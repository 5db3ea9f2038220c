"""Labelling in the browser: the label queue's next event and a form's answer as feedback."""

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.api.feedback.schemas import FeedbackIn
from app.db.models import Monitor
from app.exports.label_queue import label_queue
from app.monitoring import monitors
from app.monitoring.results import RunResults


@dataclass
class LabelView:
    """The label queue's next event for a person to answer, and where it stands."""

    run: Any  # the MonitorRun
    monitor: Monitor
    item: dict[str, Any] | None  # None: nothing left after ``after``
    position: int  # 1-based place of ``item`` among the open ones
    remaining: int  # open items in all
    classes: list[str]  # the classes to pick from: the queue's predicted classes


def label_view(
    session: Session, run: Any, model: str, *, after: str | None = None, at: str | None = None
) -> LabelView:
    """The first still-unlabelled event of the run's label queue after ``after`` (a request
    id already answered or skipped; None: from the start), or ``at`` itself while it is
    open (an answer to correct)."""
    monitor = monitors.get_monitor(session, run.monitor_id, project=None)
    queue = label_queue(session, run, model)  # open items, in the queue's order
    # Ranks in the whole queue: ``after`` may have just been labelled (and left the open ones).
    rank = {p["request_id"]: i for i, p in enumerate(RunResults.load(run.results).label_queue)}
    passed = rank.get(at, 0) - 1 if at else rank.get(after, -1) if after else -1
    later = [i for i, row in enumerate(queue) if rank.get(row["request_id"], -1) > passed]
    start = later[0] if later else len(queue)
    item = queue[start] if start < len(queue) else None
    classes = sorted({str(r["prediction"]) for r in queue if r["prediction"] is not None})
    return LabelView(run, monitor, item, start + 1, len(queue), classes)


def in_label_queue(run: Any, request_id: str) -> bool:
    """Whether the run's label queue holds the event (answers are taken for those only)."""
    return any(p["request_id"] == request_id for p in RunResults.load(run.results).label_queue)


def label_answer(
    model: str, request_id: str, *, choice: str, label_text: str, reference: str, score: str,
    thumbs: str, source: str,
) -> FeedbackIn:  # fmt: skip
    """The labelling form's answer as feedback: a typed label wins over a picked class; what
    ``FeedbackIn`` refuses comes back as a ValueError saying it in the form's words."""
    try:
        return FeedbackIn(
            model=model, request_id=request_id,
            label=label_text.strip() or choice.strip() or None,
            reference=reference.strip() or None, score=score.strip() or None,
            thumbs={"up": True, "down": False}.get(thumbs), source=source[:200],
        )  # fmt: skip
    except ValidationError as refused:
        raise ValueError(_in_the_forms_words(refused)) from None


def _in_the_forms_words(refused: ValidationError) -> str:
    for error in refused.errors():
        if error["loc"] == ("score",):
            return f"the score must be a number between 0 and 1 (not {error['input']!r})"
        if error["loc"]:
            return f"{error['loc'][0]}: {error['msg']}"
    return "pick a class, type a label or a reference, give a score or a thumb"
