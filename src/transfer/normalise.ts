import type { TransferRequest } from '../../generated/types.gen';
import type { UpstreamParams } from '../upstream';

/** How the gateway authenticates to Bitrix24 (the emulator is reached through a webhook). */
export type UpstreamMode = 'webhook' | 'oauth';

export interface NormaliseOptions {
  mode: UpstreamMode;
  /** Sent as CLIENT_ID in webhook mode when the caller gives none. */
  defaultClientId?: string;
}

/**
 * The one destination the documented priority picks (USER_ID → QUEUE_ID → TRANSFER_ID), with every id
 * an integer and LEAVE explicit, so Bitrix24's own (different) priority never comes into play.
 */
export function normalise(request: TransferRequest, { mode, defaultClientId }: NormaliseOptions): UpstreamParams {
  const params: UpstreamParams = { CHAT_ID: request.CHAT_ID, LEAVE: request.LEAVE ?? 'N' };
  const destination = resolveDestination(request);
  if (destination.kind === 'user') params.USER_ID = destination.id;
  else params.QUEUE_ID = destination.id;
  const clientId = request.CLIENT_ID ?? (mode === 'webhook' ? defaultClientId : undefined);
  if (clientId !== undefined) params.CLIENT_ID = clientId;
  if (mode === 'oauth' && request.auth !== undefined) params.auth = request.auth;
  return params;
}

function resolveDestination(request: TransferRequest): { kind: 'user' | 'queue'; id: number } {
  if (request.USER_ID !== undefined) return { kind: 'user', id: request.USER_ID };
  if (request.QUEUE_ID !== undefined) return { kind: 'queue', id: request.QUEUE_ID };
  const transferId = request.TRANSFER_ID;
  if (typeof transferId === 'number') return { kind: 'user', id: transferId };
  if (typeof transferId === 'string') {
    return transferId.startsWith('queue')
      ? { kind: 'queue', id: Number(transferId.slice('queue'.length)) }
      : { kind: 'user', id: Number(transferId) };
  }
  // Validation answers TRANSFER_ID_EMPTY before a request without a destination gets here.
  throw new Error('normalise() needs a validated request with a destination');
}
