/**
 * A small client of the Workers Builds API (Kiln's or Cloudflare's): the envelope unwrapped,
 * API errors raised with their code and message, and the server-sent events of Kiln's live log.
 */
import { terminalText } from "./terminal-text.ts";

const TIMEOUT_MS = 30_000;

/** An error answered by the API (code and message from the envelope). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** Undefined when the answer carried none (a failure envelope without errors): then only the message is shown. */
    readonly code: number | undefined,
    message: string,
  ) {
    super(code === undefined ? message : `${code}: ${message}`);
    this.name = "ApiError";
  }
}

/**
 * What the client found wrong itself (no Worker of that name, a page past the last): exit 1
 * like an API error, but printed without a code, since no API answered one.
 */
export class ClientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientError";
  }
}

/** The API could not be reached or answered something that is not the envelope. */
export class TransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TransportError";
  }
}

export interface Envelope<T> {
  success: boolean;
  errors: { code: number; message: string }[];
  /** Notes about an answer that succeeded (Kiln: a secret too short to be masked); Cloudflare's may be objects. */
  messages?: (string | { message?: unknown })[];
  result: T;
  result_info?: { page: number; per_page: number; count: number; total_count: number; total_pages?: number };
}

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    /** How long a request (not a stream) may take, body included. */
    private readonly timeoutMs: number = TIMEOUT_MS,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, "user-agent": "kiln-cli", ...extra };
  }

  /**
   * `timeoutMs` bounds the whole exchange, body included; `null` for a stream that lasts as long
   * as its build (an explicit `undefined` would take the default: that cut `--follow` at 30 s).
   */
  private async fetch(path: string, init: RequestInit, timeoutMs: number | null = this.timeoutMs): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, { ...init, ...(timeoutMs !== null ? { signal: AbortSignal.timeout(timeoutMs) } : {}) });
    } catch (error) {
      const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw new TransportError(`cannot reach ${this.baseUrl}: ${cause}`);
    }
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<Envelope<T>> {
    const response = await this.fetch(path, {
      method,
      headers: this.headers(body === undefined ? {} : { "content-type": "application/json" }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let envelope: Envelope<T>;
    try {
      envelope = JSON.parse(text) as Envelope<T>;
    } catch {
      throw new TransportError(`${method} ${path}: HTTP ${response.status}, not a JSON answer: ${text.slice(0, 200)}`);
    }
    if (!envelope.success) {
      const first = envelope.errors?.[0];
      throw new ApiError(response.status, typeof first?.code === "number" ? first.code : undefined, first?.message ?? `HTTP ${response.status}`);
    }
    // A note such as "PIN: secret values shorter than 4 characters are not masked in build logs"
    // matters to whoever ran the command: on stderr, so --json output stays one object.
    for (const note of notes(envelope)) process.stderr.write(`kiln: warning: ${note}\n`);
    return envelope;
  }

  /**
   * Server-sent events from `path`, or undefined when the server has no such stream (not Kiln):
   * anything but a 200 text/event-stream answer.
   */
  async events(path: string, signal?: AbortSignal): Promise<AsyncGenerator<SseEvent> | undefined> {
    const response = await this.fetch(path, { headers: this.headers({ accept: "text/event-stream" }), ...(signal ? { signal } : {}) }, null);
    if (response.status !== 200 || !response.headers.get("content-type")?.startsWith("text/event-stream") || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      return undefined;
    }
    return parseSse(response.body);
  }
}

async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event: SseEvent = { id: undefined, event: "message", data: "" };
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, "");
      buffer = buffer.slice(nl + 1);
      if (line === "") {
        if (event.data !== "" || event.event !== "message") yield event;
        event = { id: undefined, event: "message", data: "" };
      } else if (line.startsWith(":")) {
        continue;
      } else {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") event.data = event.data === "" ? value : `${event.data}\n${value}`;
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
      }
    }
  }
}

/** The envelope's `messages` as text lines (control sequences stripped: the server is not trusted with the terminal). */
export function notes(envelope: Pick<Envelope<unknown>, "messages">): string[] {
  const all = Array.isArray(envelope.messages) ? envelope.messages : [];
  return all
    .map((m) => (typeof m === "string" ? m : typeof m?.message === "string" ? m.message : ""))
    .map((m) => terminalText(m, "plain").trim())
    .filter((m) => m !== "");
}
