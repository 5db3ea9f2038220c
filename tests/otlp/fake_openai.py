"""A tiny OpenAI-compatible chat server for tests: canned answers, usage and (when asked)
token logprobs, so the real ``openai`` client and its instrumentations run offline."""

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from tests.processes import free_port

app = FastAPI()
ANSWER = "Your parcel ships tomorrow."
LOGPROBS = [-0.1, -0.2, -0.3]
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


@app.post("/v1/chat/completions", response_model=None)
async def chat(request: Request) -> dict[str, Any] | StreamingResponse:
    body = await request.json()
    if body.get("stream"):
        return StreamingResponse(_chunks(body), media_type="text/event-stream")
    choice: dict[str, Any] = {
        "index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop",
    }  # fmt: skip
    if body.get("logprobs"):
        tokens = ["Your", " parcel", " ships"]
        choice["logprobs"] = {"content": [
            {"token": t, "logprob": lp, "bytes": None, "top_logprobs": []}
            for t, lp in zip(tokens, LOGPROBS, strict=True)
        ]}  # fmt: skip
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()),
            "model": body["model"] + "-2026-01", "choices": [choice], "usage": USAGE}  # fmt: skip


def _chunks(body: dict[str, Any]) -> Iterator[str]:
    """The answer as server-sent chunks, a word at a time; usage last when asked for."""
    words = ANSWER.split(" ")
    head = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body["model"] + "-2026-01"}  # fmt: skip
    for i, word in enumerate(words):
        choice: dict[str, Any] = {
            "index": 0,
            "delta": {"role": "assistant", "content": word if i == 0 else " " + word},
            "finish_reason": "stop" if i == len(words) - 1 else None,
        }
        if body.get("logprobs"):
            choice["logprobs"] = {"content": [
                {"token": word, "logprob": -0.1, "bytes": None, "top_logprobs": []}
            ]}  # fmt: skip
        yield f"data: {json.dumps({**head, 'choices': [choice]})}\n\n"
    if (body.get("stream_options") or {}).get("include_usage"):
        yield f"data: {json.dumps({**head, 'choices': [], 'usage': USAGE})}\n\n"
    yield "data: [DONE]\n\n"


def serve() -> str:
    """Start the server in a daemon thread; its OpenAI base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"
