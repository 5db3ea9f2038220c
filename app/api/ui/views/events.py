"""The events page: the form's filters as typed, turned into the events service's filter."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from app.errors import DriftlineError
from app.events import browse
from app.fields import as_utc

# The events page's quick time ranges (the default is the first that is a day).
EVENT_RANGES = (
    ("last hour", timedelta(hours=1)), ("last 24 hours", timedelta(days=1)),
    ("last 7 days", timedelta(days=7)), ("last 31 days", browse.MAX_RANGE),
)  # fmt: skip
DEFAULT_EVENT_RANGE = timedelta(days=1)
# How much of a prompt or an output a row of the events table shows.
EXCERPT_CHARS = 160
# The form's time fields: minutes in UTC, as <input type="datetime-local"> writes them.
FORM_MINUTE = "%Y-%m-%dT%H:%M"


@dataclass
class EventsForm:
    """The events page's filters as typed (kept in the form and the pager's links)."""

    model: str = ""
    start: str = ""
    end: str = ""
    version: str = ""
    prediction: str = ""
    label: str = ""
    labelled: str = ""  # "", "yes" or "no"
    scored: str = ""
    flagged: str = ""
    metadata: str = ""  # key:value
    q: str = ""

    def query(self, **changes: str) -> str:
        """The page's query string for these filters (empty ones left out)."""
        values = {**self.__dict__, **changes}
        values["from"], values["to"] = values.pop("start"), values.pop("end")
        return urlencode({k: v for k, v in values.items() if v})


def parse_moment(value: str, field_name: str) -> datetime:
    """A time from the form (``datetime-local`` minutes or ISO 8601; naive is UTC); 422
    naming the field otherwise."""
    try:
        return as_utc(datetime.fromisoformat(value.strip()))
    except ValueError:
        raise DriftlineError(
            422, "invalid_time", f"{field_name!r} is not a time: use YYYY-MM-DDTHH:MM (UTC)"
        ) from None


def _yes_no(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


def event_filter(form: EventsForm, now: datetime) -> browse.EventFilter:
    """The filter the form asks for: by default the day before ``now``."""
    end = parse_moment(form.end, "to") if form.end else now
    start = parse_moment(form.start, "from") if form.start else end - DEFAULT_EVENT_RANGE
    metadata = browse.metadata_pairs([form.metadata.strip()]) if form.metadata.strip() else {}
    search = form.q.strip() or None
    if search is not None and len(search) < 2:
        raise DriftlineError(422, "invalid_search", "search for at least 2 characters")
    return browse.EventFilter(
        model=form.model, start=start, end=end, version=form.version or None,
        prediction=form.prediction or None, label=form.label or None,
        has_label=_yes_no(form.labelled), has_score=_yes_no(form.scored),
        flagged=_yes_no(form.flagged), metadata=metadata, search=search,
    )  # fmt: skip


def excerpt(text: str | None) -> str:
    """The start of a prompt or output for a table cell."""
    if text is None:
        return ""
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "\u2026"


def window_events_query(model: str, start: datetime, end: datetime) -> str:
    """The events page's query string for one window's events."""
    form = EventsForm(model=model, start=start.strftime(FORM_MINUTE), end=end.strftime(FORM_MINUTE))
    return form.query()
