// The bots of one cloud portal: `imbot.register` and `imbot.bot.list` as Bitrix24 answers them to an
// application (OAuth), and the lookup of the application's bot that the session methods make (BOT_ID_ERROR).
// Bounded: an application registers at most 5 bots (Bitrix24's MAX_COUNT_ERROR), other applications' bots
// are at most 16, and every stored text is cut to 2,048 characters.
import { type PhpParams, phpEmpty, upperCaseKeys } from '../../bitrix24-semantics';
import { specMatrix } from '../../error-matrix';
import { operations } from '../../spec';
import type { PortalBot } from './types';

/** Bitrix24's limit of bots per application. */
export const MAX_BOTS_PER_APPLICATION = 5;
const MAX_OTHER_BOTS = 16;
const MAX_TEXT = 2048;

export interface BotError {
  status: number;
  error: string;
  description: string;
}

/** imbot.register's errors, with the texts of Bitrix24's page for the method; statuses unconfirmed (400, 403). */
const registerErrors: Record<string, BotError> = {
  ACCESS_DENIED: { status: 403, error: 'ACCESS_DENIED', description: 'Access denied! Client ID not specified' },
  CODE_ERROR: { status: 400, error: 'CODE_ERROR', description: "Bot code isn't specified" },
  NAME_ERROR: { status: 400, error: 'NAME_ERROR', description: "Bot name isn't specified" },
  MAX_COUNT_ERROR: {
    status: 400,
    error: 'MAX_COUNT_ERROR',
    description: `Has reached the maximum number of bots for application (max: ${MAX_BOTS_PER_APPLICATION})`,
  },
  WRONG_REQUEST: { status: 400, error: 'WRONG_REQUEST', description: "Bot can't be created" },
};

/** The handlers imbot.register takes, with the words of their "isn't specified" error; required ones first. */
const handlers: [name: string, words: string | undefined][] = [
  ['EVENT_MESSAGE_ADD', 'Message add'],
  ['EVENT_WELCOME_MESSAGE', 'Welcome message'],
  ['EVENT_BOT_DELETE', 'Bot delete'],
  ['EVENT_MESSAGE_UPDATE', undefined],
  ['EVENT_MESSAGE_DELETE', undefined],
];

/** The error a portal set to fail registrations answers (`failBotRegistration`): a known code's text, or a 400. */
export function registrationFailure(code: string): BotError {
  return registerErrors[code] ?? { status: 400, error: code, description: "Bot can't be created" };
}

export class PortalBots {
  readonly #bots: PortalBot[] = [];
  #nextId = 101;

  get all(): PortalBot[] {
    return this.#bots.map((bot) => ({ ...bot, handlers: { ...bot.handlers } }));
  }

  /** Whether the application has a bot here: what the transfer's and the finish's lookup finds. */
  get applicationHasBot(): boolean {
    return this.#bots.some((bot) => bot.ours);
  }

  /**
   * imbot.register for the application: its bot's id, or the error. The checks' order follows the method's
   * page (handlers, CODE, NAME); unconfirmed. A CODE the application already registered answers that bot's
   * id and changes nothing, as the core's lookup by APP_ID and CODE does.
   */
  register(sent: PhpParams): { id: number } | BotError {
    const params = upperCaseKeys(sent);
    const urls: Record<string, string> = Object.create(null);
    const common = text(params.EVENT_HANDLER);
    for (const [name, words] of handlers) {
      const url = common || text(params[name]);
      if (!url) {
        if (words)
          return { status: 400, error: `${name}_ERROR`, description: `Handler for "${words}" event isn't specified` };
        continue;
      }
      if (!isHandlerUrl(url)) return { status: 400, error: `${name}_ERROR`, description: 'Wrong handler URL' };
      urls[name] = url;
    }
    const code = text(params.CODE);
    if (!code) return registerErrors.CODE_ERROR!;
    const properties = params.PROPERTIES;
    const read = (key: string) =>
      typeof properties === 'object' && properties !== null ? text((properties as PhpParams)[key]) : '';
    const name = read('NAME') || read('LAST_NAME');
    if (!name) return registerErrors.NAME_ERROR!;
    const existing = this.#bots.find((bot) => bot.ours && bot.code === code);
    if (existing) return { id: existing.id };
    if (this.#bots.filter((bot) => bot.ours).length >= MAX_BOTS_PER_APPLICATION) return registerErrors.MAX_COUNT_ERROR!;
    const type = text(params.TYPE) || 'B';
    const openline = type === 'O' || params.OPENLINE === 'Y' ? 'Y' : 'N';
    return { id: this.#add({ code, name, type, openline, handlers: urls, ours: true }) };
  }

  /** A bot of another application (tests): its id, or undefined past the bound. */
  addOther(code: string, name: string): number | undefined {
    if (this.#bots.filter((bot) => !bot.ours).length >= MAX_OTHER_BOTS) return undefined;
    return this.#add({ code: cut(code), name: cut(name), type: 'B', openline: 'N', handlers: {}, ours: false });
  }

  /** The application's bots go with it (an uninstall). */
  removeApplicationBots(): void {
    for (let i = this.#bots.length - 1; i >= 0; i--) if (this.#bots[i]!.ours) this.#bots.splice(i, 1);
  }

  /**
   * imbot.bot.list's result: every bot of the portal, id → {ID, NAME, CODE, OPENLINE}; PHP's empty array, `[]`,
   * when there is none.
   */
  list(): Record<string, { ID: number; NAME: string; CODE: string; OPENLINE: string }> | [] {
    if (this.#bots.length === 0) return [];
    const result: Record<string, { ID: number; NAME: string; CODE: string; OPENLINE: string }> = Object.create(null);
    for (const bot of this.#bots)
      result[bot.id] = { ID: bot.id, NAME: bot.name, CODE: bot.code, OPENLINE: bot.openline };
    return result;
  }

  #add(bot: Omit<PortalBot, 'id'>): number {
    const id = this.#nextId++;
    this.#bots.push({ id, ...bot });
    return id;
  }
}

/**
 * Whether a session method looks up the calling application's bot: those whose spec documents BOT_ID_ERROR
 * (the transfer and the finish).
 */
export function looksUpBot(method: string): boolean {
  let known = lookups.get(method);
  if (known === undefined) {
    known = operations().some(
      ({ operation }) =>
        operation['x-bitrix24-method'] === method &&
        specMatrix(operation.operationId).some((row) => row.code === 'BOT_ID_ERROR'),
    );
    lookups.set(method, known);
  }
  return known;
}

const lookups = new Map<string, boolean>();

/** A scalar parameter as PHP's string, cut to the bound; '' for anything empty or not a scalar. */
function text(value: unknown): string {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && !phpEmpty(value) ? cut(value.trim()) : '';
}

const cut = (value: string) => value.slice(0, MAX_TEXT);

function isHandlerUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
