// An event's tokens confirmed by Bitrix24 itself: its refresh token exchanged at the authorization server
// (the application's secret travels only there; an untrusted `server_endpoint` is ignored by the client),
// and the answer compared with what the event claims. The portal's member_id and address are then taken
// from the answer, never from the event (the answer's `domain` is the authorization server's own).

import type { OAuthClient } from '../oauth-client';
import { OAuthRefused, OAuthUnavailable } from '../oauth-client';
import type { TokenAnswer } from '../types';
import { type Result, refused, unavailable } from './answers';
import type { AppEventFields } from './read';

export type Confirmation = { answer: TokenAnswer; endpoint: URL } | { result: Result };

const NO_ANSWER: Record<OAuthUnavailable['kind'], string> = {
  timeout: 'timed out',
  unreachable: 'unreachable',
  'bad-response': 'an answer that could not be read',
};

/**
 * Exchanges the event's refresh token (`what` names the event in the descriptions). A refusal or an answer
 * that disagrees with the event is 403, no answer 503; nothing is stored in either case.
 */
export async function confirmTokens(
  oauth: Pick<OAuthClient, 'refresh'>,
  fields: AppEventFields & { refreshToken: string },
  what: 'install' | 'update',
): Promise<Confirmation> {
  let answer: TokenAnswer;
  try {
    answer = await oauth.refresh(fields.refreshToken, fields.serverEndpoint);
  } catch (error) {
    if (error instanceof OAuthRefused)
      return {
        result: refused(
          `The authorization server did not confirm the ${what} (${error.serverCode ?? error.code}); nothing was stored`,
        ),
      };
    if (error instanceof OAuthUnavailable)
      return {
        result: unavailable(
          `The authorization server did not answer the ${what}'s confirmation (${NO_ANSWER[error.kind]}); nothing was stored`,
        ),
      };
    throw error;
  }
  // The answer is Bitrix24's own (checkTokenAnswer made its client_endpoint an https URL, http on loopback).
  const endpoint = new URL(answer.client_endpoint);
  const disagreement = disagreementOf(fields, answer, endpoint);
  // The pair just issued is dropped, unused and unstored: the event's sender held a live refresh token of
  // that portal for this application (Bitrix24 answered it), so it could have spent it anyway, and the
  // portal's stored pair, if any, is another one; a real install lost so is repeated by reinstalling.
  if (disagreement !== undefined) return { result: refused(`${disagreement}; nothing was stored`) };
  return { answer, endpoint };
}

function disagreementOf(fields: AppEventFields, answer: TokenAnswer, endpoint: URL): string | undefined {
  if (answer.member_id !== fields.memberId)
    return "The authorization server's answer is for another portal than the event's auth[member_id]";
  if (fields.domain !== undefined && hostOfDomain(fields.domain, endpoint.protocol) !== endpoint.host)
    return "The event's auth[domain] is not the address of the portal the authorization server named";
  if (fields.clientEndpoint !== undefined && hostOfUrl(fields.clientEndpoint) !== endpoint.host)
    return "The event's auth[client_endpoint] is not on the portal the authorization server named";
  return undefined;
}

/** A bare `host[:port]` as a URL of `protocol` writes it (lower case, the scheme's port left out). */
function hostOfDomain(domain: string, protocol: string): string | undefined {
  if (/[/?#@\\\s]/.test(domain)) return undefined;
  return hostOfUrl(`${protocol}//${domain}`);
}

function hostOfUrl(text: string): string | undefined {
  try {
    return new URL(text).host;
  } catch {
    return undefined;
  }
}
