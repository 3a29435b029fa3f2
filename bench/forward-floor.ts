// The floor for valid transfers: a bare forwarding proxy. node:http in, an undici Pool out to the
// emulator (keep-alive, as many connections as the gateway's default UPSTREAM_CONNECTIONS), no validation,
// no logging: each request's body goes to the emulator's OAuth path as it came, and the emulator's status
// and body come back. What one Node process here can forward at all, to read the gateway's CPU time per
// valid transfer against.
//
//   BENCH_UPSTREAM  the emulator's origin (required)
//   PORT            this server's port (default: a free one)
//
// Its first stdout line is JSON: {url}.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const upstream = process.env.BENCH_UPSTREAM;
if (!upstream) throw new Error('BENCH_UPSTREAM: the emulator origin is required');
const TRANSFER = '/rest/imopenlines.bot.session.transfer';
const pool = new Pool(upstream, { connections: 16, pipelining: 1, keepAliveTimeout: 4_000 });

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const answer = await pool.request({
        method: 'POST',
        path: TRANSFER,
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      });
      const body = Buffer.from(await answer.body.arrayBuffer());
      res.writeHead(answer.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
