"""Path and query parameter types shared by the routers, bounded like the columns they
match (an id past the column's range is a 422 naming it — never a database error)."""

from typing import Annotated

from fastapi import Path, Query

# Serial ids of baselines and monitors are int4; runs are int8.
Int4Id = Annotated[int, Path(ge=1, le=2_147_483_647)]
Int8Id = Annotated[int, Path(ge=1, le=9_223_372_036_854_775_807)]
# PostgreSQL text cannot hold NUL: refuse it in names rather than fail in the database.
_NO_NUL = r"^[^\x00]*$"
ModelName = Annotated[str, Path(min_length=1, max_length=200, pattern=_NO_NUL)]
ModelQuery = Annotated[str, Query(min_length=1, max_length=200, pattern=_NO_NUL)]
OptionalModelQuery = Annotated[str | None, Query(max_length=200, pattern=_NO_NUL)]
# A short text filter (a version, class or label) and a request id in a path.
TextFilter = Annotated[str | None, Query(min_length=1, max_length=200, pattern=_NO_NUL)]
RequestIdPath = Annotated[str, Path(min_length=1, max_length=200, pattern=_NO_NUL)]
NO_NUL = _NO_NUL
# Every list: a bounded page and the cursor of the next (``app.db.paging``).
DEFAULT_PAGE = 100
PageLimit = Annotated[int, Query(ge=1, le=1000, description="Rows per page (at most 1,000).")]
PageCursor = Annotated[
    str | None,
    Query(max_length=400, pattern=_NO_NUL, description="The previous page's next_cursor."),
]
