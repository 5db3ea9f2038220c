// The client against a real Driftline (DRIFTLINE_URL, DRIFTLINE_KEY: tests/sdk/test_typescript_client.py
// starts one and runs `node --test` with them). A recording proxy in front of it shows what
// was sent and can answer 503 after forwarding (an acknowledgement lost on the way back).

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import OpenAI from "openai";

import { Driftline } from "../dist/index.js";

const URL_ = process.env.DRIFTLINE_URL;
const KEY = process.env.DRIFTLINE_KEY;
if (!URL_ || !KEY) throw new Error("set DRIFTLINE_URL and DRIFTLINE_KEY (a running Driftline)");

const unique = (name) => `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** Stop a test server now, keep-alive connections included (else the runner waits). */
function stop(server) {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
}

/** A proxy to Driftline recording each request's JSON body; `lose` acks answered 503. */
async function proxy({ lose = 0 } = {}) {
  const bodies = [];
  let lost = 0;
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    bodies.push({ path: req.url, json: JSON.parse(body.toString() || "null") });
    const upstream = await fetch(URL_ + req.url, {
      method: req.method, headers: { authorization: req.headers.authorization, "content-type": "application/json" }, body,
    });
    const text = await upstream.text();
    if (lost < lose) {
      lost += 1; // stored upstream, but the client hears a failure
      res.writeHead(503, { "content-type": "application/json", "retry-after": "0" });
      res.end(JSON.stringify({ error: { code: "unavailable", message: "lost on the way back" } }));
      return;
    }
    res.writeHead(upstream.status, { "content-type": "application/json" });
    res.end(text);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, bodies, close: () => stop(server) };
}

/** How many of these events Driftline already holds: re-sent, they come back duplicates. */
async function stored(events) {
  const r = await fetch(`${URL_}/v1/events`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ events }),
  });
  const text = await r.text();
  assert.equal(r.status, 202, text);
  return JSON.parse(text).duplicates;
}

test("events and feedback arrive in batches, typed fields in the API's names", async (t) => {
  const p = await proxy();
  t.after(p.close);
  const dl = new Driftline({ url: p.url, apiKey: KEY, batchSize: 10, flushOnExit: false });
  const model = unique("ts-bot");
  const ids = [];
  for (let i = 0; i < 25; i += 1) {
    ids.push(dl.log({
      model, prompt: `question ${i}`, output: `answer ${i}`, prediction: i % 2 ? "a" : "b",
      confidence: 0.9, latencyMs: 12.5, promptTokens: 3, completionTokens: 2,
      finishReason: "stop", modelVersion: "v1", metadata: { tenant: "acme" },
    }));
  }
  dl.feedback({ model, requestId: ids[0], label: "a", score: 1, source: "ts-test" });
  await dl.close();
  const s = dl.stats();
  assert.equal(s.sent, 26);
  assert.equal(s.dropped + s.rejected + s.duplicates, 0);
  const eventBatches = p.bodies.filter((b) => b.path === "/v1/events");
  assert.deepEqual(eventBatches.map((b) => b.json.events.length), [10, 10, 5]);
  const first = eventBatches[0].json.events[0];
  assert.equal(first.request_id, ids[0]);
  assert.equal(first.latency_ms, 12.5);
  assert.equal(first.model_version, "v1");
  assert.equal(first.finish_reason, "stop");
  assert.ok(!("latencyMs" in first) && !Number.isNaN(Date.parse(first.ts)));
  const fb = p.bodies.find((b) => b.path === "/v1/feedback").json.feedback[0];
  assert.deepEqual(fb, { model, request_id: ids[0], label: "a", score: 1, source: "ts-test" });
  assert.equal(await stored(eventBatches[0].json.events), 10);
});

test("a lost acknowledgement is retried with the same request ids: stored once", async (t) => {
  const p = await proxy({ lose: 1 });
  t.after(p.close);
  const dl = new Driftline({ url: p.url, apiKey: KEY, batchSize: 50, flushOnExit: false, maxBackoffMs: 200 });
  const model = unique("ts-retry");
  for (let i = 0; i < 20; i += 1) dl.log({ model, prompt: `p${i}`, output: `o${i}` });
  await dl.close();
  const s = dl.stats();
  assert.equal(p.bodies.length, 2);
  assert.deepEqual(p.bodies[1].json, p.bodies[0].json); // the very same events, ids and ts
  assert.equal(s.retries, 1);
  assert.equal(s.duplicates, 20); // the server had them from the first attempt
  assert.equal(s.sent, 0);
});

test("invalid items are rejected alone; the rest of the batch is stored", async (t) => {
  const p = await proxy();
  t.after(p.close);
  const dl = new Driftline({ url: p.url, apiKey: KEY, flushOnExit: false, onWarning: () => {} });
  const model = unique("ts-invalid");
  dl.log({ model, prompt: "ok", output: "ok" });
  dl.log({ model, prompt: "bad", output: "bad", confidence: 2 }); // confidence is 0..1
  dl.log({ model, prompt: "ok too", output: "ok" });
  await dl.close();
  assert.deepEqual([dl.stats().sent, dl.stats().rejected], [2, 1]);
  assert.equal(p.bodies.at(-1).json.events.length, 2);
});

test("memory stays bounded while Driftline is unreachable, and close gives up in time", async () => {
  const closed = http.createServer();
  await new Promise((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = closed.address().port;
  await new Promise((resolve) => closed.close(resolve)); // nothing listens there now
  const warnings = [];
  const dl = new Driftline({
    url: `http://127.0.0.1:${port}`, apiKey: KEY, maxQueue: 10, batchSize: 5,
    flushOnExit: false, maxBackoffMs: 50, onWarning: (m) => warnings.push(m),
  });
  for (let i = 0; i < 25; i += 1) dl.log({ model: "nowhere", prompt: "p", output: "o" });
  const started = Date.now();
  await dl.close(500);
  assert.ok(Date.now() - started < 5_000);
  const s = dl.stats();
  assert.equal(s.queued, 25);
  assert.equal(s.sent, 0);
  assert.ok(s.dropped >= 15, JSON.stringify(s)); // never more than maxQueue held
  assert.equal(s.dropped, 25);
  assert.ok(warnings.some((w) => w.includes("queue full")));
  dl.log({ model: "nowhere", prompt: "after close", output: "o" });
  assert.equal(dl.stats().dropped, 26);
});

test("a process that exits without closing still sends what it logged", async () => {
  const script = `
    import { Driftline } from ${JSON.stringify(fileURLToPath(new URL("../dist/index.js", import.meta.url)))};
    const dl = new Driftline({ url: process.env.DRIFTLINE_URL, apiKey: process.env.DRIFTLINE_KEY, flushIntervalMs: 60000 });
    const ids = [1, 2, 3].map((i) => dl.log({ model: "ts-exit", prompt: "p" + i, output: "o" + i, ts: "2026-01-01T00:00:00Z" }));
    console.log(JSON.stringify(ids));
  `;
  const out = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
    env: process.env, encoding: "utf8", timeout: 60_000,
  });
  assert.equal(out.status, 0, out.stderr);
  const ids = JSON.parse(out.stdout);
  const events = ids.map((id, i) => ({
    model: "ts-exit", request_id: id, prompt: `p${i + 1}`, output: `o${i + 1}`, ts: "2026-01-01T00:00:00Z",
  }));
  assert.equal(await stored(events), 3);
});

/** A stand-in OpenAI endpoint: one chat completion, plain or streamed (server-sent events). */
async function fakeOpenAI() {
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const request = JSON.parse(Buffer.concat(chunks).toString());
    const base = { id: "c1", created: 1, model: "gpt-test-2026-01-01" };
    if (!request.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        ...base, object: "chat.completion",
        choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content: "Paris." },
          logprobs: { content: [{ token: "Paris", logprob: -0.1, bytes: null, top_logprobs: [] }, { token: ".", logprob: -0.2, bytes: null, top_logprobs: [] }] } }],
        usage: { prompt_tokens: 7, completion_tokens: 2, total_tokens: 9 },
      }));
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream" });
    const parts = [
      { choices: [{ index: 0, delta: { role: "assistant", content: "Ber" }, finish_reason: null }] },
      { choices: [{ index: 0, delta: { content: "lin." }, finish_reason: "stop" }] },
      { choices: [], usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } },
    ];
    for (const part of parts) {
      res.write(`data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", ...part })}\n\n`);
    }
    res.end("data: [DONE]\n\n");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/v1`, close: () => stop(server) };
}

test("the openai client, wrapped, logs each completion, streamed or not, and answers as before", async (t) => {
  const p = await proxy();
  t.after(p.close);
  const ai = await fakeOpenAI();
  t.after(ai.close);
  const dl = new Driftline({ url: p.url, apiKey: KEY, flushOnExit: false });
  const model = unique("ts-openai");
  const client = dl.wrapOpenAI(new OpenAI({ baseURL: ai.url, apiKey: "sk-test" }), { model });
  const plain = await client.chat.completions.create({
    model: "gpt-test", logprobs: true,
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Capital of France?" }],
  });
  assert.equal(plain.choices[0].message.content, "Paris.");
  const stream = await client.chat.completions.create({
    model: "gpt-test", stream: true, stream_options: { include_usage: true },
    messages: [{ role: "user", content: "Capital of Germany?" }],
  });
  let text = "";
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? "";
  assert.equal(text, "Berlin.");
  await dl.close();
  const events = p.bodies.flatMap((b) => b.json.events ?? []);
  assert.equal(events.length, 2);
  const [a, b] = events;
  assert.equal(a.model, model);
  assert.equal(a.prompt, "Capital of France?");
  assert.equal(a.output, "Paris.");
  assert.equal(a.model_version, "gpt-test-2026-01-01");
  assert.deepEqual([a.prompt_tokens, a.completion_tokens, a.finish_reason], [7, 2, "stop"]);
  assert.deepEqual(a.token_logprobs, [-0.1, -0.2]);
  assert.ok(a.latency_ms >= 0);
  assert.equal(b.prompt, "Capital of Germany?");
  assert.equal(b.output, "Berlin.");
  assert.deepEqual([b.prompt_tokens, b.completion_tokens, b.finish_reason], [5, 3, "stop"]);
  assert.equal(dl.stats().sent, 2);
});
