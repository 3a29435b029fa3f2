// The floor: bare node:http answering every POST with the gateway's 400 for the rejected body, after
// reading and parsing the body. No framework, no validation, no logging: what one Node process on this
// machine can answer at all, to read the absolute "rejected requests per second" figures against.
// Its first stdout line is JSON: {url}.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const answer = JSON.stringify({
  error: 'INVALID_PARAMETER',
  error_description: 'CHAT_ID must be an integer from 1 to 2147483647, got "12abc"',
});
const length = String(Buffer.byteLength(answer));

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      // answered the same
    }
    res.writeHead(400, { 'content-type': 'application/json', 'content-length': length });
    res.end(answer);
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0));
