"""A tiny OpenAI-compatible chat server for tests: canned answers, usage and (when asked)
token logprobs, so the real ``openai`` client and its instrumentations run offline."""

import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request

from tests.processes import free_port

app = FastAPI()
ANSWER = "Your parcel ships tomorrow."
LOGPROBS = [-0.1, -0.2, -0.3]
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}


@app.post("/v1/chat/completions")
async def chat(request: Request) -> dict[str, Any]:
    body = await request.json()
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


def serve() -> str:
    """Start the server in a daemon thread; its OpenAI base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}/v1"
