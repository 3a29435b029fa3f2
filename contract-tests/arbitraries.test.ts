// The generators' promises that the properties' verdicts rest on, checked on a large sample: no request
// reaches one of the emulator's test values by chance (its answer would be an upstream error the property
// did not mean), and this run's SECRET_MARK is only ever where a secret goes.
import { fc } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { upperCaseKeys } from '../src/bitrix24-semantics';
import { readParams } from '../src/emulator/params';
import { bitrix24Methods } from '../src/operations';
import { arbitrariesFor, type GeneratedRequest, isTestValue, METHODS, SECRET_MARK } from './arbitraries';
import { keysGuardTheGateway } from './properties';
import { RUNS, SEED } from './runs';

/** Requests sampled per family and method: six times a property's runs, at least 1000. */
const SAMPLE = Math.max(1_000, RUNS * 6);
const seed = SEED === undefined ? Date.now() % 2 ** 30 : Number(SEED);

/** The parameters as the emulator reads them: query and body merged, keys upper-cased where the method does. */
async function asBitrix24Reads(method: string, request: GeneratedRequest) {
  const params = await readParams(
    new Request(`http://emulator${request.path}`, {
      method: 'POST',
      headers: { 'content-type': request.contentType },
      body: request.body,
    }),
  );
  return bitrix24Methods.find((known) => known.name === method)!.upperCasesKeys ? upperCaseKeys(params) : params;
}

/** A body's top-level entries: a JSON object's, or a form's (an 'other' content type carries either). */
function entriesOf(body: string): [string, unknown][] {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === 'object' && value !== null ? Object.entries(value) : [];
  } catch {
    return [...new URLSearchParams(body)];
  }
}

/** Where a secret may go: CLIENT_ID and auth, in any spelling, plain or PHP-style (`auth[]`). */
const secretKey = /^(client_id|auth)(\[.*)?\s*$/i;

describe.each(METHODS)('the generators of %s', (method) => {
  const arbitraries = arbitrariesFor(method);
  const requests = [
    ...fc.sample(arbitraries.anyUrl(arbitraries.mixedRequest), { numRuns: SAMPLE, seed }),
    ...fc.sample(arbitraries.parameterRequest, { numRuns: SAMPLE, seed: seed + 1 }),
  ];

  it(`never draw one of the emulator's test values as CHAT_ID (seed ${seed})`, async () => {
    const hits: string[] = [];
    for (const request of requests) {
      const { CHAT_ID } = await asBitrix24Reads(method, request);
      if (isTestValue(CHAT_ID)) hits.push(`${request.path} ${request.body}`);
    }
    expect(hits).toEqual([]);
  });

  it(`put SECRET_MARK only where a secret goes (seed ${seed})`, () => {
    let marked = 0;
    for (const request of requests) {
      const [path, query = ''] = request.path.split('?');
      expect(query, request.path).not.toContain(SECRET_MARK);
      // Only the key segment of a webhook-style path: /rest/{user}/{key}/method.
      expect(
        path!
          .split('/')
          .filter((_segment, i) => i !== 3)
          .join('/'),
        request.path,
      ).not.toContain(SECRET_MARK);
      if (!request.body.includes(SECRET_MARK)) continue;
      marked += 1;
      const entries = entriesOf(request.body);
      const carriers = entries.filter(([, value]) => JSON.stringify(value)?.includes(SECRET_MARK));
      expect(carriers.length, request.body).toBeGreaterThan(0);
      for (const [key] of carriers) expect(key, request.body).toMatch(secretKey);
    }
    // And secrets are common: a leak on any path would show.
    expect(marked).toBeGreaterThan(requests.length / 50);
  });
});

it('property 4 draws secrets in Authorization, and only there', () => {
  const draws = fc.sample(fc.tuple(...keysGuardTheGateway.arbitraries), { numRuns: SAMPLE, seed });
  const marked = draws.filter(([, authorization]) => authorization?.includes(SECRET_MARK)).length;
  for (const [request] of draws) expect(request.path).not.toContain(SECRET_MARK);
  expect(marked).toBeGreaterThan(SAMPLE / 10);
});
