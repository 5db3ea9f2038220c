"""``python -m tests.otlp.emit STYLE N``: N chat calls through the real ``openai`` client,
traced by one real instrumentation (``openllmetry``, ``openai-v2`` or ``openinference``)
and exported by the real OTLP/HTTP exporter to wherever ``OTEL_EXPORTER_OTLP_*`` point.

A process per instrumentation: each patches the ``openai`` client globally.
"""

import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tests.otlp.fake_openai import serve

PROMPTS = ["Where is my parcel?", "Can I change the address?", "Do you ship to Norway?"]


def instrument(style: str, provider: TracerProvider) -> None:
    if style == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "true"
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif style == "openai-v2":
        # Message content on the span itself (the default sends it as log records).
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        V2().instrument(tracer_provider=provider)
    else:
        from openinference.instrumentation.openai import OpenAIInstrumentor as OI

        OI().instrument(tracer_provider=provider)


def main(style: str, n: int) -> None:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    instrument(style, provider)
    import openai

    client = openai.OpenAI(base_url=serve(), api_key="not-used")
    for i in range(n):
        client.chat.completions.create(
            model="support-bot",
            messages=[{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
            logprobs=True,
        )  # fmt: skip
    assert provider.force_flush(30_000), "the exporter did not flush"
    provider.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
