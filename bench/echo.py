"""The single-event ceiling: a bare FastAPI route that parses the JSON body with orjson and
echoes it, served exactly as ``driftline api`` serves (uvicorn, one worker, the same HTTP
protocol class, logging and garbage-collector tuning). What remains between it and
``POST /v1/events`` is Driftline's own work: the key, the body gate, validation, the
database write and its COMMIT.

    python -m bench.echo --port 8765
"""

import argparse

import orjson
import uvicorn
from fastapi import FastAPI, Request, Response

from app.api.server import tune_garbage_collector
from app.cli import HTTP_PROTOCOL
from app.config import get_settings
from app.logs import setup

echo_app = FastAPI()


def serve_echo() -> FastAPI:
    """The app, with the garbage collector tuned as ``driftline api`` tunes it."""
    tune_garbage_collector()
    return echo_app


@echo_app.post("/v1/events")
async def echo(request: Request) -> Response:
    """Parse the body and send it back."""
    return Response(orjson.dumps(orjson.loads(await request.body())), status_code=202,
                    media_type="application/json")  # fmt: skip


@echo_app.get("/readyz")
async def ready() -> dict[str, bool]:
    """Ready as soon as it serves (the bench waits on it)."""
    return {"ready": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    settings = get_settings()
    uvicorn.run(
        "bench.echo:serve_echo", factory=True, host="127.0.0.1", port=port, workers=1,
        log_level=settings.log_level,
        log_config=setup(settings.log_level, settings.log_format), http=HTTP_PROTOCOL,
    )  # fmt: skip


if __name__ == "__main__":
    main()
