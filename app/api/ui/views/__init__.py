"""What each UI page shows, gathered in a bounded number of queries (runs through
``app.monitoring.runs``, examples through ``app.exports``, events through ``app.events``): one
module per page."""

from app.api.ui.views.compare import compare_page, compare_with_baseline
from app.api.ui.views.events import (
    EVENT_RANGES,
    EventsForm,
    event_filter,
    excerpt,
    parse_moment,
    window_events_query,
)
from app.api.ui.views.fleet import FLEET_PAGE, VERDICTS, fleet
from app.api.ui.views.labelling import in_label_queue, label_answer, label_view
from app.api.ui.views.model import DEFAULT_CHART_WINDOWS, MAX_CHART_WINDOWS, model_page
from app.api.ui.views.window import window_page

__all__ = [
    "DEFAULT_CHART_WINDOWS",
    "EVENT_RANGES",
    "FLEET_PAGE",
    "MAX_CHART_WINDOWS",
    "VERDICTS",
    "EventsForm",
    "compare_page",
    "compare_with_baseline",
    "event_filter",
    "excerpt",
    "fleet",
    "in_label_queue",
    "label_answer",
    "label_view",
    "model_page",
    "parse_moment",
    "window_events_query",
    "window_page",
]
