"""A deterministic OpenAI-compatible judge served locally, for the test suite, the judge bench
and trying judges without a network (no model: a rule stands in for one).

Its verdict follows a hidden truth: an answer passes when at least half of its words are in
the reference answer (when the prompt carries one; otherwise in the rest of the prompt: the
question and its context, a crude faithfulness), and never when it contains ``fail_marker``.
``agreement`` < 1 flips that verdict for a deterministic share of answers (a judge that
agrees with the truth 85 % of the time). It can misbehave on purpose: answer 429 with
``Retry-After`` until a time, 500 for a share of calls, off-format JSON, or slowly. Every
request is counted, so a test can assert how many calls were paid for.
"""

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from app.engine.judged import unit_hash

_WORD = re.compile(r"\w+")
# A template's sections: a line "NAME (any words):" and the text below it.
_SECTION = re.compile(r"^([A-Z][A-Z]+[^\n:]*):\n(.*?)(?=\n\n[A-Z][A-Z]+[^\n:]*:\n|\Z)", re.S | re.M)


@dataclass
class Behaviour:
    """How the judge answers; change it while the server runs."""

    agreement: float = 1.0
    fail_marker: str = "WRONG"
    refuse_until: float = 0.0  # time.time() before which every call gets 429
    retry_after: float = 1.0
    error_share: float = 0.0  # share of calls answered 500
    off_format_share: float = 0.0  # share of answers that break the schema
    delay_seconds: float = 0.0
    tokens_per_call: int = 100
    reason: str = "rule"  # the one-line reason every answer gives


def truth(output: str, reference: str | None, *, fail_marker: str = "WRONG") -> bool:
    """The hidden truth the judge follows: no failure marker, and (given a reference) at
    least half of the answer's words are in it."""
    if fail_marker and fail_marker in output:
        return False
    if not reference:
        return True
    words = [w.lower() for w in _WORD.findall(output)]
    ref = {w.lower() for w in _WORD.findall(reference)}
    return bool(words) and sum(w in ref for w in words) / len(words) >= 0.5


class LocalJudge:
    """The server: ``start()``, ``base_url``, ``calls``, ``stop()`` (also a context manager)."""

    def __init__(self, behaviour: Behaviour | None = None, *, port: int = 0) -> None:
        self.behaviour = behaviour or Behaviour()
        self.calls = 0
        self._lock = threading.Lock()
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, headers, payload = judge.answer(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (``…/v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "LocalJudge":
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "LocalJudge":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """One chat completion request → (status, headers, JSON body)."""
        b = self.behaviour
        with self._lock:
            self.calls += 1
        if b.delay_seconds:
            time.sleep(b.delay_seconds)
        if time.time() < b.refuse_until:
            error = {"error": {"message": "rate limited", "type": "rate_limit"}}
            return 429, {"Retry-After": str(b.retry_after)}, error
        content = next(
            (m["content"] for m in body.get("messages", []) if m.get("role") == "user"), ""
        )
        if b.error_share and unit_hash(f"500:{self.calls}", content) < b.error_share:
            return 500, {}, {"error": {"message": "upstream failed", "type": "server_error"}}
        sections = {k.strip().split(" ")[0]: v.strip() for k, v in _SECTION.findall(content)}
        output = sections.pop("ANSWER", "")
        grounds = sections.get("REFERENCE") or " ".join(sections.values())
        verdict = truth(output, grounds, fail_marker=b.fail_marker)
        if unit_hash("agreement", output) >= b.agreement:
            verdict = not verdict
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        if "score" in schema.get("properties", {}):
            answer: dict[str, Any] = {"score": 1.0 if verdict else 0.0, "reason": b.reason}
        else:
            answer = {"verdict": "pass" if verdict else "fail", "reason": b.reason}
        if b.off_format_share and unit_hash("format", output) < b.off_format_share:
            answer = {"judgement": "looks fine"}
        return 200, {}, {
            "id": f"local-{self.calls}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "local"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(answer)}}],
            "usage": {"prompt_tokens": b.tokens_per_call - 10, "completion_tokens": 10,
                      "total_tokens": b.tokens_per_call},
        }  # fmt: skip
