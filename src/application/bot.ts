// The bot's registration on a portal (application mode, issue 33): `imbot.register` with TYPE O (Open Lines),
// the gateway's events URL as every handler, and the bot's profile name. When the register fails in a way
// that may mean the bot is already there (an answer lost, WRONG_REQUEST, MAX_COUNT_ERROR), the bot is looked
// up by its CODE with `imbot.bot.list`. The caller's `call` adds the portal's access token and limit; what
// comes back is the bot's id or a short text safe to store and show: Bitrix24's code, never a token, never
// Bitrix24's own description (which may quote what was sent).
import { bodyJson, type UpstreamAnswer, UpstreamError } from '../upstream';

/** Calls a method of the portal with the portal's token (added by the caller). Rejects with UpstreamError. */
export type PortalCall = (method: string, params: Record<string, unknown>) => Promise<UpstreamAnswer>;

/** The bot the gateway registers on every portal. */
export interface BotSettings {
  /** `CODE`: the bot's string code, the same on every portal (how a lost registration is found again). */
  code: string;
  /** `PROPERTIES[NAME]`. */
  name: string;
  /** Where the portal posts the bot's events (`EVENT_HANDLER` and each event's handler). */
  eventsUrl: string;
}

export type BotRegistration = { botId: number } | { problem: string };

/** Bitrix24's answers to a register that may mean the bot exists already (the core finds it by CODE). */
const MAYBE_EXISTS: ReadonlySet<string> = new Set(['WRONG_REQUEST', 'MAX_COUNT_ERROR']);
/** A code shown as Bitrix24 sent it only when it looks like one. */
const CODE = /^[A-Za-z0-9_.-]{1,64}$/;

export async function registerBot(call: PortalCall, bot: BotSettings): Promise<BotRegistration> {
  const params = {
    CODE: bot.code,
    TYPE: 'O',
    OPENLINE: 'Y',
    // EVENT_HANDLER fills every handler; the three required ones are also named for portals that predate it.
    EVENT_HANDLER: bot.eventsUrl,
    EVENT_MESSAGE_ADD: bot.eventsUrl,
    EVENT_WELCOME_MESSAGE: bot.eventsUrl,
    EVENT_BOT_DELETE: bot.eventsUrl,
    PROPERTIES: { NAME: bot.name },
  };
  let failure: string;
  try {
    const answer = await call('imbot.register', params);
    const id = resultId(answer);
    if (id !== undefined) return { botId: id };
    const code = errorCode(answer);
    failure = `imbot.register answered ${code ?? `HTTP ${answer.status} without a bot id`}`;
    // A refusal that cannot mean the bot exists is final.
    if (code !== undefined && !MAYBE_EXISTS.has(code)) return { problem: failure };
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    // The register may have run and its answer been lost: the bot may be there.
    failure = `imbot.register got no answer (${error.kind})`;
  }
  const found = await lookUp(call, bot.code);
  return 'botId' in found ? found : { problem: `${failure}; ${found.problem}` };
}

/**
 * The bot with this CODE in `imbot.bot.list`. The list does not say which application registered a bot: a
 * CODE is meant to be unique on the portal, so the gateway's code should be its own (a bot code of another
 * application with the same text would be taken for the gateway's).
 */
async function lookUp(call: PortalCall, code: string): Promise<BotRegistration> {
  let answer: UpstreamAnswer;
  try {
    answer = await call('imbot.bot.list', {});
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    return { problem: `imbot.bot.list got no answer (${error.kind})` };
  }
  const result = answer.status === 200 ? resultOf(answer) : undefined;
  if (typeof result !== 'object' || result === null) {
    const failed = errorCode(answer);
    return { problem: `imbot.bot.list answered ${failed ?? `HTTP ${answer.status} without a list`}` };
  }
  const ids: number[] = [];
  // PHP's empty array is `[]`; a list is an object of id → bot (or, from some portals, an array of bots).
  for (const entry of Object.values(result)) {
    if (typeof entry !== 'object' || entry === null || (entry as { CODE?: unknown }).CODE !== code) continue;
    const id = positiveId((entry as { ID?: unknown }).ID);
    if (id !== undefined) ids.push(id);
  }
  if (ids.length === 1) return { botId: ids[0]! };
  return { problem: ids.length === 0 ? 'no bot with its code in imbot.bot.list' : 'several bots with its code' };
}

function resultOf(answer: UpstreamAnswer): unknown {
  const parsed = bodyJson(answer)?.value;
  return typeof parsed === 'object' && parsed !== null && Object.hasOwn(parsed, 'result')
    ? (parsed as { result: unknown }).result
    : undefined;
}

function resultId(answer: UpstreamAnswer): number | undefined {
  return answer.status === 200 ? positiveId(resultOf(answer)) : undefined;
}

/** Bitrix24's `error`, when the answer has one that looks like a code. */
function errorCode(answer: UpstreamAnswer): string | undefined {
  const parsed = bodyJson(answer)?.value;
  const error =
    typeof parsed === 'object' && parsed !== null && Object.hasOwn(parsed, 'error')
      ? (parsed as { error: unknown }).error
      : undefined;
  return typeof error === 'string' && CODE.test(error) ? error : undefined;
}

/** A bot id: a positive integer, or its decimal text (PHP answers either). */
function positiveId(value: unknown): number | undefined {
  const id = typeof value === 'string' && /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : value;
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0 ? id : undefined;
}
