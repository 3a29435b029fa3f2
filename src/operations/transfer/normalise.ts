/**
 * The one destination the documented priority picks (USER_ID → QUEUE_ID → TRANSFER_ID), forwarded as
 * USER_ID or QUEUE_ID alone, so that Bitrix24's own (different) priority never comes into play.
 */
export function normalise(request: Record<string, unknown>): Record<string, unknown> {
  const { USER_ID, QUEUE_ID, TRANSFER_ID, ...rest } = request;
  const destination = resolveDestination(USER_ID, QUEUE_ID, TRANSFER_ID);
  return { ...rest, ...(destination.kind === 'user' ? { USER_ID: destination.id } : { QUEUE_ID: destination.id }) };
}

function resolveDestination(
  userId: unknown,
  queueId: unknown,
  transferId: unknown,
): { kind: 'user' | 'queue'; id: number } {
  if (typeof userId === 'number') return { kind: 'user', id: userId };
  if (typeof queueId === 'number') return { kind: 'queue', id: queueId };
  if (typeof transferId === 'number') return { kind: 'user', id: transferId };
  if (typeof transferId === 'string') {
    return transferId.startsWith('queue')
      ? { kind: 'queue', id: Number(transferId.slice('queue'.length)) }
      : { kind: 'user', id: Number(transferId) };
  }
  // Validation answers TRANSFER_ID_EMPTY before a request without a destination gets here.
  throw new Error('normalise() needs a validated request with a destination');
}
