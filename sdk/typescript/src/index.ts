/**
 * Driftline's TypeScript/Node client: log LLM calls and feedback without blocking or
 * throwing into the application. Items wait in a bounded queue; a timer (and a full batch)
 * sends them in batches; a failed send is retried with exponential backoff and jitter,
 * re-sending the same request ids so the server never stores an event twice; at exit the
 * queue is flushed.
 */

import { randomUUID } from "node:crypto";

/** Statuses worth another try: the server (or something before it) was busy or failing. */
const RETRYABLE = new Set([408, 425, 429, 500, 502, 503, 504]);
const MAX_BATCH = 1000; // the server's DRIFTLINE_MAX_BATCH_EVENTS default

export interface DriftlineOptions {
  /** Driftline's base URL, e.g. `http://driftline:8000`. */
  url: string;
  /** A key with the `ingest` scope (`feedback` needs it too). */
  apiKey: string;
  /** Items per request (1–1000; default 100). */
  batchSize?: number;
  /** Longest an item waits before its batch is sent (default 1000 ms). */
  flushIntervalMs?: number;
  /** Items held at most; past it the oldest is dropped and counted (default 10,000). */
  maxQueue?: number;
  /** Longest wait between retries (default 30,000 ms). */
  maxBackoffMs?: number;
  /** Time allowed for one request (default 10,000 ms). */
  timeoutMs?: number;
  /** Flush when the process is about to exit (`beforeExit`; default true). */
  flushOnExit?: boolean;
  /** Called with each warning (default: `console.warn`, at most every 10 s). */
  onWarning?: (message: string) => void;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

/** The optional fields of an event (`POST /v1/events`), in camelCase. */
export interface EventFields {
  requestId?: string;
  modelVersion?: string;
  ts?: Date | string;
  prediction?: string;
  confidence?: number;
  latencyMs?: number;
  promptTokens?: number;
  completionTokens?: number;
  tokenLogprobs?: number[];
  perplexity?: number;
  finishReason?: string;
  embedding?: number[];
  metadata?: Record<string, string | number | boolean>;
}

export interface LogEvent extends EventFields {
  model: string;
  prompt: string;
  output: string;
}

/** Feedback on an event (`POST /v1/feedback`): a label, a reference answer, a score… */
export interface Feedback {
  model: string;
  requestId: string;
  label?: string;
  reference?: string;
  score?: number;
  thumbs?: boolean;
  source?: string;
  ts?: Date | string;
}

/** What the client did so far. */
export interface Stats {
  queued: number;
  sent: number;
  duplicates: number;
  retries: number;
  dropped: number;
  rejected: number;
}

type Kind = "events" | "feedback";
type Payload = Record<string, unknown>;

const SNAKE: Record<string, string> = {
  requestId: "request_id",
  modelVersion: "model_version",
  latencyMs: "latency_ms",
  promptTokens: "prompt_tokens",
  completionTokens: "completion_tokens",
  tokenLogprobs: "token_logprobs",
  finishReason: "finish_reason",
};

function toWire(item: object): Payload {
  const out: Payload = {};
  for (const [key, value] of Object.entries(item)) {
    if (value === undefined || value === null) continue;
    out[SNAKE[key] ?? key] = value instanceof Date ? value.toISOString() : value;
  }
  return out;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class Driftline {
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxQueue: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private readonly warn: (message: string) => void;
  private readonly queue: Array<[Kind, Payload]> = [];
  private readonly counts: Stats = {
    queued: 0, sent: 0, duplicates: 0, retries: 0, dropped: 0, rejected: 0,
  };
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private closed = false;
  private deadline = Infinity; // while flushing with a time limit: when to give up
  private lastWarning = 0;
  private readonly onExit = () => {
    void this.close();
  };

  constructor(options: DriftlineOptions) {
    if (!options.url || !options.apiKey) {
      throw new TypeError("Driftline needs `url` and `apiKey`");
    }
    this.url = options.url.replace(/\/+$/, "");
    this.headers = {
      Authorization: `Bearer ${options.apiKey}`,
      "Content-Type": "application/json",
      "User-Agent": "driftline-client-js/0.1",
    };
    this.batchSize = Math.max(1, Math.min(options.batchSize ?? 100, MAX_BATCH));
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.maxQueue = Math.max(1, options.maxQueue ?? 10_000);
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.warn = options.onWarning ?? ((message) => {
      const now = Date.now();
      if (now - this.lastWarning > 10_000) {
        this.lastWarning = now;
        console.warn(message);
      }
    });
    if (options.flushOnExit ?? true) process.once("beforeExit", this.onExit);
  }

  /** Queue one event; returns its request id (generated unless given) for feedback. */
  log(event: LogEvent): string {
    const requestId = event.requestId ?? randomUUID().replaceAll("-", "");
    const payload = toWire({ ...event, requestId });
    payload.ts ??= new Date().toISOString();
    this.push("events", payload);
    return requestId;
  }

  /** Queue feedback on an event logged earlier (by its request id). */
  feedback(item: Feedback): void {
    this.push("feedback", toWire(item));
  }

  /** A copy of the counters. */
  stats(): Stats {
    return { ...this.counts };
  }

  /**
   * Send everything queued now. Resolves when the queue is empty, or after `timeoutMs`
   * (default: no limit) with what could not be sent still queued, in order, for later.
   */
  async flush(timeoutMs = Infinity): Promise<void> {
    this.deadline = Date.now() + timeoutMs;
    try {
      while ((this.queue.length > 0 || this.sending) && Date.now() < this.deadline) {
        await this.drain();
      }
      if (this.sending) await this.sending; // stops at the deadline, its batch requeued
    } finally {
      this.deadline = Infinity;
    }
  }

  /**
   * Flush for at most `timeoutMs` (default 10 s), then stop: what is still unsent is
   * dropped and counted, and later `log` calls too. Safe to call twice.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    process.removeListener("beforeExit", this.onExit);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closed = true;
    await this.flush(timeoutMs);
    if (this.queue.length > 0) {
      this.counts.dropped += this.queue.length;
      this.warn(`driftline: ${this.queue.length} unsent items dropped at close`);
      this.queue.length = 0;
    }
  }

  /**
   * Wrap an `openai` client: every `chat.completions.create` call (streamed or not) is
   * logged as one event, and the call itself behaves exactly as before.
   */
  wrapOpenAI<T extends object>(client: T, options: { model?: string } = {}): T {
    const completions = (client as any)?.chat?.completions;
    if (!completions || typeof completions.create !== "function") {
      throw new TypeError("wrapOpenAI needs an OpenAI client (client.chat.completions.create)");
    }
    const original = completions.create.bind(completions);
    const log = (request: any, started: number, result: CompletionSummary) => {
      try {
        this.log({
          model: options.model ?? String(request?.model ?? "openai"),
          prompt: lastUserMessage(request?.messages),
          output: result.output,
          modelVersion: result.modelVersion,
          latencyMs: Date.now() - started,
          promptTokens: result.promptTokens,
          completionTokens: result.completionTokens,
          finishReason: result.finishReason,
          tokenLogprobs: result.logprobs.length > 0 ? result.logprobs : undefined,
        });
      } catch (error) {
        this.warn(`driftline: could not log a completion: ${String(error)}`);
      }
    };
    const create = (request: any, ...rest: unknown[]) => {
      const started = Date.now();
      const pending = original(request, ...rest);
      if (request?.stream) {
        return pending.then((stream: any) => observeStream(stream, (r) => log(request, started, r)));
      }
      return pending.then((response: any) => {
        log(request, started, summarise(response));
        return response;
      });
    };
    // The wrapped client keeps every method and property; only `create` is replaced (the
    // promise openai returns has helpers such as withResponse(): kept by `then` above only
    // for the result, which is what callers await).
    const wrappedCompletions = new Proxy(completions, {
      get: (target, prop, receiver) =>
        prop === "create" ? create : Reflect.get(target, prop, receiver),
    });
    const chat = new Proxy((client as any).chat, {
      get: (target, prop, receiver) =>
        prop === "completions" ? wrappedCompletions : Reflect.get(target, prop, receiver),
    });
    return new Proxy(client, {
      get: (target, prop, receiver) =>
        prop === "chat" ? chat : Reflect.get(target, prop, receiver),
    });
  }

  // --- queue ---------------------------------------------------------------------------

  private push(kind: Kind, payload: Payload): void {
    if (this.closed) {
      this.counts.dropped += 1;
      this.warn("driftline: the client is closed; an item was dropped");
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.queue.shift();
      this.counts.dropped += 1;
      this.warn(`driftline: queue full (${this.maxQueue}); dropped the oldest item`);
    }
    this.queue.push([kind, payload]);
    this.counts.queued += 1;
    if (this.queue.length >= this.batchSize) {
      void this.drain();
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.drain();
      }, this.flushIntervalMs);
      // The timer alone must not keep the process alive: `beforeExit` flushes instead.
      this.timer.unref();
    }
  }

  /** One sender at a time: batches leave in order, each retried until done. */
  private drain(): Promise<void> {
    this.sending ??= (async () => {
      try {
        while (this.queue.length > 0 && Date.now() < this.deadline) {
          const [kind, batch] = this.take();
          await this.send(kind, batch);
        }
      } finally {
        this.sending = undefined;
      }
    })();
    return this.sending;
  }

  private take(): [Kind, Payload[]] {
    const kind = this.queue[0][0];
    const batch: Payload[] = [];
    while (this.queue.length > 0 && batch.length < this.batchSize && this.queue[0][0] === kind) {
      batch.push(this.queue.shift()![1]);
    }
    return [kind, batch];
  }

  private async send(kind: Kind, batch: Payload[]): Promise<void> {
    let pending: Payload[] | undefined = batch;
    let attempt = 0;
    while (pending && pending.length > 0) {
      let response: Response | undefined;
      try {
        response = await this.fetchImpl(`${this.url}/v1/${kind}`, {
          method: "POST",
          headers: this.headers,
          body: JSON.stringify({ [kind]: pending }),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        this.warn(`driftline: ${kind} not sent (${String(error)}); retrying`);
      }
      const next = await this.outcome(kind, pending, response);
      if (next === undefined) return;
      if (response && !RETRYABLE.has(response.status) && next !== pending) {
        pending = next; // trimmed or split: send the rest at once
        attempt = 0;
        continue;
      }
      if (Date.now() >= this.deadline) {
        // Out of time (closing): put the batch back at the front, in order.
        for (const payload of [...next].reverse()) this.queue.unshift([kind, payload]);
        return;
      }
      this.counts.retries += 1;
      let delay = Math.min(this.maxBackoffMs, 500 * 2 ** Math.min(attempt, 10));
      delay *= 0.5 + Math.random() / 2;
      const retryAfter = Number(response?.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) {
        delay = Math.min(this.maxBackoffMs, Math.max(delay, retryAfter * 1000));
      }
      await sleep(Math.max(0, Math.min(delay, this.deadline - Date.now())));
      pending = next;
      attempt += 1;
    }
  }

  /** What to send next for this batch (undefined: done with it). */
  private async outcome(
    kind: Kind, batch: Payload[], response: Response | undefined,
  ): Promise<Payload[] | undefined> {
    if (!response) return batch;
    const body = await response.json().catch(() => ({}) as any);
    if (response.status === 200 || response.status === 202) {
      this.counts.sent += Number(body?.accepted ?? batch.length);
      this.counts.duplicates += Number(body?.duplicates ?? 0);
      return undefined;
    }
    if (RETRYABLE.has(response.status)) return batch;
    const message = body?.error?.message ?? response.statusText;
    if (response.status === 413 && batch.length > 1) {
      // Too large: send the first half now, the second half next.
      const half = Math.floor(batch.length / 2);
      for (const payload of batch.slice(half).reverse()) this.queue.unshift([kind, payload]);
      return batch.slice(0, half);
    }
    if (response.status === 422 && batch.length > 1) {
      const bad = new Set<number>(
        (body?.error?.details ?? [])
          .map((d: any) => d?.index)
          .filter((i: unknown) => typeof i === "number"),
      );
      if (bad.size > 0 && bad.size < batch.length) {
        this.counts.rejected += bad.size;
        this.warn(`driftline: ${bad.size} invalid ${kind} rejected: ${message}`);
        return batch.filter((_, i) => !bad.has(i));
      }
    }
    this.counts.rejected += batch.length;
    this.warn(`driftline: ${batch.length} ${kind} refused (${response.status}): ${message}`);
    return undefined;
  }
}

// --- openai ----------------------------------------------------------------------------

interface CompletionSummary {
  output: string;
  modelVersion?: string;
  promptTokens?: number;
  completionTokens?: number;
  finishReason?: string;
  logprobs: number[];
}

function lastUserMessage(messages: any): string {
  if (!Array.isArray(messages)) return "";
  for (let i = messages.length - 1; i >= 0; i -= 1) {
    const m = messages[i];
    if (m?.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    if (Array.isArray(m.content)) {
      return m.content.filter((p: any) => p?.type === "text").map((p: any) => p.text).join("\n");
    }
  }
  return "";
}

function summarise(response: any): CompletionSummary {
  const choice = response?.choices?.[0];
  return {
    output: choice?.message?.content ?? "",
    modelVersion: response?.model,
    promptTokens: response?.usage?.prompt_tokens,
    completionTokens: response?.usage?.completion_tokens,
    finishReason: choice?.finish_reason ?? undefined,
    logprobs: (choice?.logprobs?.content ?? []).map((t: any) => t.logprob),
  };
}

/** The stream, unchanged for its reader; logged once it has been read to the end. */
function observeStream(stream: any, done: (summary: CompletionSummary) => void): any {
  const summary: CompletionSummary = { output: "", logprobs: [] };
  const iterate = stream[Symbol.asyncIterator].bind(stream);
  let logged = false;
  const finish = () => {
    if (!logged) {
      logged = true;
      done(summary);
    }
  };
  return new Proxy(stream, {
    get: (target, prop, receiver) => {
      if (prop !== Symbol.asyncIterator) return Reflect.get(target, prop, receiver);
      return async function* () {
        try {
          for await (const chunk of { [Symbol.asyncIterator]: iterate }) {
            const choice = chunk?.choices?.[0];
            summary.output += choice?.delta?.content ?? "";
            summary.finishReason = choice?.finish_reason ?? summary.finishReason;
            summary.modelVersion = chunk?.model ?? summary.modelVersion;
            for (const t of choice?.logprobs?.content ?? []) summary.logprobs.push(t.logprob);
            if (chunk?.usage) {
              summary.promptTokens = chunk.usage.prompt_tokens;
              summary.completionTokens = chunk.usage.completion_tokens;
            }
            yield chunk;
          }
        } finally {
          finish();
        }
      };
    },
  });
}
