"""Field types every input schema shares, bounded like the columns they are stored in."""

from typing import Annotated

from pydantic import StringConstraints

# Identifiers must not hold NUL (text elsewhere is sanitised; a name is refused instead).
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]
