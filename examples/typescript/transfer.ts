// The README's example of the generated TypeScript SDK, as written there: src/server/sdk.test.ts runs it
// against a real gateway (GATEWAY_URL, GATEWAY_KEY).
import { createClient } from '../../generated/client';
import { transferSession } from '../../generated/sdk.gen';

const client = createClient({
  baseUrl: process.env.GATEWAY_URL ?? 'http://localhost:8080',
  auth: process.env.GATEWAY_KEY,
});
// Safe to retry with the same key: the gateway never sends one key's transfer twice.
const idempotencyKey = crypto.randomUUID();
const { data, error, response } = await transferSession({
  client,
  body: { CHAT_ID: 112, USER_ID: 12 },
  headers: { 'Idempotency-Key': idempotencyKey },
});
if (error)
  console.error(response.status, error.error, error.error_description); // e.g. 400 TRANSFER_ID_EMPTY
else console.log(data.result, data.time.duration);
