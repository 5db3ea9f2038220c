"""The served api tunes CPython's garbage collector (app.api.server.tune_garbage_collector)."""

import gc
import subprocess
import sys


def test_a_served_app_freezes_startup_objects_and_raises_the_young_threshold() -> None:
    # In a child: freezing is process-wide and would outlive this test in the suite's process.
    probe = (
        "import gc, os; os.environ['DRIFTLINE_DATABASE_URL'] = 'postgresql://x@127.0.0.1/x';"
        "from app.main import create_app_from_env; from app.api.server import GC_YOUNG_THRESHOLD;"
        "create_app_from_env();"
        "print(gc.get_freeze_count(), gc.get_threshold()[0] == GC_YOUNG_THRESHOLD)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    frozen, raised = out.stdout.split()
    assert int(frozen) > 10_000 and raised == "True"
    assert gc.get_threshold()[0] < 50_000  # and this process was left alone
