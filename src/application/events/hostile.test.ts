// Hostile event bodies through real HTTP: malformed, repeated (in every spelling PHP reads as one field),
// listed, nested, oversized, the costliest form shapes, prototype keys. Each is answered 400 naming the
// field (never a secret's value) or, when it reads as an event, 403 at the authorization server; nothing is
// stored, nothing crashes, one log line each, and a real install still goes through afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formShapes } from '../../test-support/form-shapes';
import { randomToken, type Stack, startStack } from './harness';

let stack: Stack;
let memberId: string;
const applicationToken = `app-${randomToken()}`;
const refreshToken = `refresh-${randomToken()}`;
/** A forged install of a real portal: it reads as an event, and the authorization server refuses it. */
let forged: string;

beforeAll(async () => {
  stack = await startStack({ portals: 1, limits: { installsPerSourcePerMinute: 1000, installsPerMinute: 1000 } });
  memberId = stack.cloud.portals[0]!.memberId;
  forged = `event=ONAPPINSTALL&auth[member_id]=${memberId}&auth[application_token]=${applicationToken}&auth[refresh_token]=${refreshToken}`;
});
afterAll(async () => {
  await stack?.close();
});

const without = (field: string) => forged.replace(new RegExp(`&auth\\[${field}\\]=[^&]*`), '');

describe('hostile event bodies', () => {
  it('are 400 INVALID_EVENT naming the field, never a secret, with nothing stored', async () => {
    const cases: [string, string][] = [
      ['', 'event is missing'],
      ['event=ONAPPINSTALL', 'auth is missing'],
      [
        forged.replace('ONAPPINSTALL', 'ONAPPFOO'),
        'event "ONAPPFOO" is not ONAPPINSTALL, ONAPPUPDATE or ONAPPUNINSTALL',
      ],
      [forged.replace('event=', 'event[]='), 'event must be one value, not fields'],
      [`${forged}&event=ONAPPUNINSTALL`, 'event is repeated'],
      [`${forged}&auth%5Bmember_id%5D=other`, 'auth[member_id] is repeated'],
      [`${forged}&++auth[member_id]=other`, 'auth[member_id] is repeated'],
      [`${forged}&auth[member_id]tail=other`, 'auth[member_id] is repeated'],
      [`${forged}&auth[application_token]=${randomToken()}`, 'auth[application_token] is repeated'],
      [`${forged}&auth=plain`, 'auth is repeated'],
      [`${forged}&auth[member_id][x]=1`, 'auth[member_id] is repeated'],
      [`auth=plain&event=ONAPPINSTALL`, 'auth must be fields (auth[member_id]=…)'],
      [
        forged.replace('auth[refresh_token]=', 'auth[refresh_token][]='),
        'auth[refresh_token] must be one value, not fields',
      ],
      [`event=ONAPPINSTALL&auth${'[a]'.repeat(70)}=1`, 'auth is missing'],
      [without('member_id'), 'auth[member_id] is missing'],
      [without('application_token'), 'auth[application_token] is missing'],
      [without('refresh_token'), "auth[refresh_token] is missing: an install brings the portal's tokens"],
      [
        forged.replace(memberId, 'bad+id!'),
        `auth[member_id] "bad id!" is not a portal's member id (1 to 64 letters, digits, _ or -)`,
      ],
      [
        forged.replace(memberId, '%FF'),
        `auth[member_id] "\uFFFD" is not a portal's member id (1 to 64 letters, digits, _ or -)`,
      ],
      [
        forged.replace(applicationToken, `${applicationToken}+x`),
        'auth[application_token] is not 1 to 255 visible ASCII characters',
      ],
      [forged.replace(refreshToken, 'x'.repeat(513)), 'auth[refresh_token] is not 1 to 512 visible ASCII characters'],
      [`${forged}&auth[note]=${'x'.repeat(513)}`, 'auth[note] is longer than 512 characters'],
      [`${forged}&ts=12ab`, 'ts "12ab" is not a Unix time (1 to 12 digits)'],
      [`${forged}&data=1`, 'data must be fields (data[VERSION]=…)'],
      [`${forged}&data[VERSION][x]=1`, 'data[VERSION] must be one value, not fields'],
      [`${forged}&x=${'a'.repeat(70_000)}`, 'The body is longer than 65536 characters'],
      [`${forged}${'&k=v'.repeat(300)}`, 'The body has more than 256 fields'],
    ];
    for (const [body, description] of cases) {
      const answer = await stack.post(body);
      expect(answer, body.slice(0, 120)).toMatchObject({
        status: 400,
        body: { error: 'INVALID_EVENT', error_description: description },
      });
      expect(JSON.stringify(answer.body)).not.toContain(applicationToken);
      expect(JSON.stringify(answer.body)).not.toContain(refreshToken);
    }
    expect(stack.outcomes.filter(([, outcome]) => outcome === 'invalid')).toHaveLength(cases.length);
    expect(await stack.store.list()).toEqual([]);
  });

  it('the costliest form shapes after a forged install are 400 or 403, one log line each, nothing stored', async () => {
    const lines = stack.lines.length;
    const shapes = Object.entries(formShapes(60_000 - forged.length));
    for (const [name, shape] of shapes) {
      const answer = await stack.post(`${forged}&${shape}`);
      expect([400, 403], name).toContain(answer.status);
    }
    expect(stack.lines.length).toBe(lines + shapes.length);
    expect(await stack.store.list()).toEqual([]);
  });

  it('prototype keys are plain fields: read past, nothing polluted', async () => {
    const answer = await stack.post(
      `__proto__[member_id]=x&constructor[prototype][y]=1&${forged}&auth[__proto__]=z&auth[constructor]=c&data[__proto__]=d`,
    );
    expect(answer.status).toBe(403);
    expect(answer.body.error_description).toContain('invalid_grant');
    const plain: Record<string, unknown> = {};
    expect([plain.member_id, plain.y, plain.auth]).toEqual([undefined, undefined, undefined]);
  });

  it('no log line holds a secret sent, and a real install still goes through', async () => {
    const text = stack.logText();
    expect(text).not.toContain(applicationToken);
    expect(text).not.toContain(refreshToken);
    const portal = stack.cloud.portals[0]!;
    expect((await stack.cloud.install(portal, stack.url)).status).toBe(200);
    expect((await stack.store.get(portal.memberId))?.state).toBe('ready');
    expect(stack.handler.inFlight).toBe(0);
  });
});
