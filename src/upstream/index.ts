import { isUtf8 } from 'node:buffer';
import { type Dispatcher, errors, Pool } from 'undici';

/** How the gateway authenticates to Bitrix24: with its own webhook (the emulator too), or each caller's OAuth token. */
export type UpstreamMode = 'webhook' | 'oauth';

/** The normalised parameters the gateway sends to Bitrix24: each a JSON value the spec's schema accepted. */
export type UpstreamParams = Readonly<Record<string, unknown>>;

/** Bitrix24's answer, not yet checked against the spec. */
export interface UpstreamAnswer {
  status: number;
  contentType: string | undefined;
  body: string;
}

const parsedBodies = new WeakMap<UpstreamAnswer, { value: unknown } | undefined>();

/**
 * The answer's body as JSON (`undefined` when it is not JSON), parsed once for every reader of the same
 * answer: the limiter's look for Bitrix24's limit codes and the relay's reading by the spec.
 */
export function bodyJson(answer: UpstreamAnswer): { value: unknown } | undefined {
  if (parsedBodies.has(answer)) return parsedBodies.get(answer);
  let parsed: { value: unknown } | undefined;
  try {
    parsed = { value: JSON.parse(answer.body) };
  } catch {
    parsed = undefined;
  }
  parsedBodies.set(answer, parsed);
  return parsed;
}

/** The call did not produce an answer. `detail` is safe to log: it never holds the URL. */
export class UpstreamError extends Error {
  constructor(
    /** No connection or no answer; no answer in time; an answer that is not HTTP, too large, or not UTF-8. */
    readonly kind: 'unreachable' | 'timeout' | 'bad-response',
    readonly detail: string,
  ) {
    super(`upstream ${kind}: ${detail}`);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamOptions {
  /** A webhook base (`…/rest/{user}/{code}/`: it holds the webhook code, so it is never logged) or a portal origin. */
  base: URL;
  mode: UpstreamMode;
  timeoutMs: number;
  connections: number;
  /** Bitrix24's answer is read up to this many bytes; past it the call fails as 'bad-response'. */
  maxBodyBytes: number;
}

/** A method's URL under a webhook base (`…/rest/{user}/{code}/`) or a portal origin (OAuth). */
export function methodUrl(base: URL, mode: UpstreamMode, method: string): URL {
  return mode === 'webhook' ? new URL(method, base) : new URL(`/rest/${method}`, base);
}

/**
 * A keep-alive connection pool to the one configured Bitrix24 host. The host comes from configuration
 * only; nothing in a request can change it.
 */
export class UpstreamClient {
  readonly #pool: Pool;
  readonly #base: URL;
  readonly #mode: UpstreamMode;
  /** Each method's path on the portal, once computed. */
  readonly #paths = new Map<string, string>();
  readonly #timeoutMs: number;
  readonly #maxBodyBytes: number;
  /** The calls waiting for Bitrix24, aborted when the gateway's shutdown timeout runs out. */
  readonly #inFlight = new Set<AbortController>();
  #stopped = false;

  constructor({ base, mode, timeoutMs, connections, maxBodyBytes }: UpstreamOptions) {
    this.#pool = new Pool(base.origin, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      connect: { timeout: Math.min(timeoutMs, 10_000) },
    });
    this.#base = base;
    this.#mode = mode;
    this.#timeoutMs = timeoutMs;
    this.#maxBodyBytes = maxBodyBytes;
  }

  /**
   * POSTs the parameters to Bitrix24's `method` as JSON, with `headers` besides (the trace context). Resolves
   * with any HTTP answer; rejects only with UpstreamError.
   */
  async call(method: string, params: UpstreamParams, headers: Record<string, string> = {}): Promise<UpstreamAnswer> {
    // One controller a call, aborted by its own deadline or by abort(): cheaper than AbortSignal.any.
    const controller = new AbortController();
    const deadline = setTimeout(abort, this.#timeoutMs, controller);
    this.#inFlight.add(controller);
    try {
      const response = await this.#pool.request({
        method: 'POST',
        path: this.#pathOf(method),
        headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(params),
        signal: controller.signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      const body = await readBody(response, this.#maxBodyBytes);
      const contentType = response.headers['content-type'];
      return {
        status: response.statusCode,
        contentType: Array.isArray(contentType) ? contentType[0] : contentType,
        body,
      };
    } catch (error) {
      if (this.#stopped) throw new UpstreamError('timeout', 'the gateway stopped before Bitrix24 answered');
      throw error instanceof UpstreamError ? error : classify(error, controller.signal, this.#timeoutMs);
    } finally {
      clearTimeout(deadline);
      this.#inFlight.delete(controller);
    }
  }

  #pathOf(method: string): string {
    let path = this.#paths.get(method);
    if (path === undefined) {
      path = methodUrl(this.#base, this.#mode, method).pathname;
      this.#paths.set(method, path);
    }
    return path;
  }

  /** Gives up on every call in flight: each fails as 'timeout' (it may or may not have been executed). */
  abort(): void {
    this.#stopped = true;
    for (const controller of this.#inFlight) controller.abort();
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

/**
 * The answer's body as text: read no further than `maxBytes` (a portal that sends 10 MB does not make the
 * gateway hold 10 MB), and decoded strictly (invalid UTF-8 is not silently replaced).
 */
async function readBody({ headers, body }: Dispatcher.ResponseData, maxBytes: number): Promise<string> {
  let bytes: Buffer;
  // With a Content-Length the parser holds the body to it: within the bound, it is read whole at once.
  const declared = Number(headers['content-length'] ?? Number.NaN);
  if (Number.isInteger(declared)) {
    if (declared > maxBytes) throw tooLarge(body, maxBytes);
    bytes = Buffer.from(await body.arrayBuffer());
  } else {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw tooLarge(body, maxBytes);
      chunks.push(chunk as Buffer);
    }
    bytes = Buffer.concat(chunks, size);
  }
  if (!isUtf8(bytes)) throw new UpstreamError('bad-response', 'an answer that is not valid UTF-8');
  return bytes.toString('utf8');
}

function tooLarge(body: Dispatcher.ResponseData['body'], maxBytes: number): UpstreamError {
  body.destroy();
  return new UpstreamError('bad-response', `an answer larger than ${maxBytes} bytes`);
}

const abort = (controller: AbortController) => controller.abort();

function classify(error: unknown, signal: AbortSignal, timeoutMs: number): UpstreamError {
  if (signal.aborted || error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError) {
    return new UpstreamError('timeout', `no answer within ${timeoutMs} ms`);
  }
  // Bytes that are not an HTTP answer: it came from the portal, but it is not one the spec documents.
  if (error instanceof errors.HTTPParserError)
    return new UpstreamError('bad-response', 'an answer that is not valid HTTP');
  // A connect timeout lands here too: the request never left, so it is "unreachable", not "timeout".
  // Only the error's code or class name: messages can quote the URL, which holds the webhook code.
  const code = (error as { code?: unknown })?.code;
  return new UpstreamError(
    'unreachable',
    typeof code === 'string' ? code : ((error as Error)?.name ?? 'unknown error'),
  );
}
