// Helpers for the emulator's own tests.
import type { PhpParams } from '../bitrix24-semantics';
import type { Emulator } from './types';

export const WEBHOOK = '/rest/1/emulatorsecret/imopenlines.bot.session.transfer';
export const OAUTH = '/rest/imopenlines.bot.session.transfer';

/** A transfer that succeeds through the webhook. */
export const valid = { CHAT_ID: 112, USER_ID: 12, CLIENT_ID: 'bot' } as const;

export interface Answer {
  status: number;
  contentType: string | null;
  body: unknown;
}

export async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, contentType: response.headers.get('content-type'), body };
}

export async function postJson(emulator: Emulator, body: PhpParams | string, path = WEBHOOK, init: RequestInit = {}) {
  const response = await emulator.app.request(`http://portal.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  return answerOf(response);
}

export async function postForm(emulator: Emulator, form: string, path = WEBHOOK) {
  const response = await emulator.app.request(`http://portal.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  return answerOf(response);
}

export async function get(emulator: Emulator, pathAndQuery: string) {
  return answerOf(await emulator.app.request(`http://portal.test${pathAndQuery}`));
}

export const error = (code: string, description: string) => ({ error: code, error_description: description });
