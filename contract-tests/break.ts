// Deliberately broken gateways, for the contract harness's self-test only: the real gateway with a
// rewriting layer in front of it (a reverse proxy on its own loopback port), so the gateway itself stays
// untouched. Each kind breaks the contract in one way the contract run must catch; the self-test
// (harness.selftest.ts) proves it does. Nothing here is part of the gateway.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const breakKinds = {
  'undocumented-status': 'answers 422, a status the spec does not document, wherever the gateway answers 400',
  'undocumented-code': 'renames the code INVALID_PARAMETER to VALIDATION_FAILED, which the spec does not list for 400',
  'server-error': 'answers a successful transfer with 500 INTERNAL_SERVER_ERROR (a documented status and code)',
  'refuse-valid': 'answers a successful transfer with 400 INVALID_PARAMETER (a documented status and code)',
  'ignored-auth': 'lets every caller in: a missing or wrong API key is replaced with the valid one',
} as const;

export type BreakKind = keyof typeof breakKinds;

export function isBreakKind(value: string): value is BreakKind {
  return Object.hasOwn(breakKinds, value);
}

export interface BrokenGateway {
  url: string;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: Buffer;
}

interface Breakage {
  /** Changes the request's headers before they reach the gateway. */
  request?: (headers: http.OutgoingHttpHeaders) => void;
  /** Changes one answer; undefined passes it on unchanged. */
  answer?: (answer: Answer, path: string) => Answer | undefined;
}

const isTransfer = (path: string) =>
  /^\/rest\/([^/?]+\/[^/?]+\/)?imopenlines\.bot\.session\.transfer(\.json)?(\?|$)/.test(path);
const json = (status: number, body: object): Answer => ({ status, body: Buffer.from(JSON.stringify(body)) });

function breakage(kind: BreakKind, apiKey: string): Breakage {
  switch (kind) {
    case 'undocumented-status':
      return { answer: ({ status, body }) => (status === 400 ? { status: 422, body } : undefined) };
    case 'undocumented-code':
      return {
        answer: ({ status, body }) => {
          const parsed = parseJson(body);
          if (status !== 400 || parsed?.error !== 'INVALID_PARAMETER') return undefined;
          return json(400, { ...parsed, error: 'VALIDATION_FAILED' });
        },
      };
    case 'server-error':
      return {
        answer: ({ status }, path) =>
          status === 200 && isTransfer(path)
            ? json(500, { error: 'INTERNAL_SERVER_ERROR', error_description: 'Internal server error' })
            : undefined,
      };
    case 'refuse-valid':
      return {
        answer: ({ status }, path) =>
          status === 200 && isTransfer(path)
            ? json(400, {
                error: 'INVALID_PARAMETER',
                error_description: 'CHAT_ID must be an integer from 1 to 2147483647',
              })
            : undefined,
      };
    case 'ignored-auth':
      return {
        request: (headers) => {
          headers.authorization = `Bearer ${apiKey}`;
        },
      };
  }
}

// Hop-by-hop headers belong to one connection and are not forwarded (RFC 9110, 7.6.1).
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'upgrade',
  'transfer-encoding',
]);

function endToEnd(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name)));
}

/**
 * Starts a reverse proxy to `target` (the real gateway) that forwards every request and every answer
 * unchanged, except what `kind` changes. `apiKey` is the run's valid key (for `ignored-auth`).
 */
export async function startBrokenGateway(target: string, kind: BreakKind, apiKey: string): Promise<BrokenGateway> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  const { request, answer } = breakage(kind, apiKey);

  const server = http.createServer((req, res) => {
    const headers = endToEnd(req.headers);
    // A chunked request body is forwarded chunked again; otherwise content-length travels as is.
    if (req.headers['transfer-encoding']) headers['transfer-encoding'] = req.headers['transfer-encoding'];
    request?.(headers);
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent },
      (reply) => {
        const chunks: Buffer[] = [];
        reply.on('data', (chunk: Buffer) => chunks.push(chunk));
        reply.on('end', () => {
          const original = { status: reply.statusCode ?? 502, body: Buffer.concat(chunks) };
          const final = answer?.(original, req.url ?? '/') ?? original;
          const out = endToEnd(reply.headers);
          if (final !== original) out['content-type'] = 'application/json; charset=utf-8';
          out['content-length'] = String(final.body.length);
          res.writeHead(final.status, out);
          res.end(final.body);
        });
        reply.on('error', () => res.destroy());
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
