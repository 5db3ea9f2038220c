"""The client's integrations with the real ``openai`` client (against a tiny OpenAI-compatible
server) and a real Driftline: every call becomes one event with the right fields."""

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from driftline_client import AsyncDriftline, Driftline
from sqlalchemy import Engine, text

from tests.otlp.fake_openai import ANSWER, LOGPROBS, USAGE, serve

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Where is my parcel?"}]  # fmt: skip


@pytest.fixture(scope="module")
def openai_url() -> str:
    return serve()


@pytest.fixture
def dl(driftline: str, make_key: Callable[..., str]) -> Iterator[Driftline]:
    client = Driftline(driftline, make_key("ingest"), flush_interval=0.05)
    yield client
    client.close()


def events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM events ORDER BY ts")).mappings().all()
    return [dict(r) for r in rows]


def test_wrap_openai_logs_plain_and_streamed_calls(
    dl: Driftline, openai_url: str, engine: Engine
) -> None:
    client = dl.wrap_openai(openai.OpenAI(base_url=openai_url, api_key="x"), model="parcel-bot")
    assert dl.wrap_openai(client) is client  # wrapping again changes nothing
    plain = client.chat.completions.create(model="gpt-mini", messages=MESSAGES, logprobs=True)
    assert plain.choices[0].message.content == ANSWER  # the caller's answer is untouched
    stream = client.chat.completions.create(
        model="gpt-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert streamed == ANSWER
    assert dl.flush(10)
    first, second = events(engine)
    for event in (first, second):
        assert (event["model"], event["model_version"]) == ("parcel-bot", "gpt-mini-2026-01")
        assert event["prompt"] == "Where is my parcel?" and event["output"] == ANSWER
        assert event["prompt_tokens"] == USAGE["prompt_tokens"]
        assert event["completion_tokens"] == USAGE["completion_tokens"]
        assert event["finish_reason"] == "stop" and event["latency_ms"] > 0
    assert first["logprob_tokens"] == len(LOGPROBS) and second["logprob_tokens"] is None


def test_wrap_openai_async_and_the_observe_decorator(
    driftline: str, make_key: Callable[..., str], openai_url: str, engine: Engine
) -> None:
    async def main() -> None:
        dl = AsyncDriftline(driftline, make_key("ingest"), flush_interval=0.05)
        client = dl.wrap_openai(openai.AsyncOpenAI(base_url=openai_url, api_key="x"))
        await client.chat.completions.create(model="gpt-mini", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-mini", messages=MESSAGES, stream=True, logprobs=True
        )
        async for _ in stream:
            pass

        @dl.observe(model="summariser", prompt_arg="text", model_version="v3")
        async def summarise(style: str, text: str) -> str:
            return f"{style}: {text[:10]}"

        assert await summarise("terse", text="a long article about parcels") == "terse: a long art"
        assert await dl.flush(10)
        await dl.aclose()

    asyncio.run(main())
    logged = events(engine)
    assert [(e["model"], e["output"]) for e in logged] == [
        ("gpt-mini", ANSWER), ("gpt-mini", ANSWER), ("summariser", "terse: a long art"),
    ]  # fmt: skip
    assert logged[1]["logprob_tokens"] == len(ANSWER.split(" "))
    assert logged[2]["prompt"] == "a long article about parcels"
    assert logged[2]["model_version"] == "v3"


def test_observe_a_plain_function_and_misspelt_fields(dl: Driftline, engine: Engine) -> None:
    @dl.observe(model="echo")
    def answer(question: str) -> str:
        return question.upper()

    assert answer("hello") == "HELLO"
    with pytest.raises(TypeError):
        dl.log(model="m", prompt="p", output="o", promt_tokens=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        dl.observe(model="m", latency=3)
    assert dl.flush(10)
    assert [(e["prompt"], e["output"]) for e in events(engine)] == [("hello", "HELLO")]
