import { emptyParams, type PhpParams, phpFormParams } from '../bitrix24-semantics';

/**
 * The request's parameters as the server sees them: the query string merged with the body, the body
 * winning (PHP's array_merge of the two, top-level keys only). A body that is not a JSON object, a
 * form or a multipart form adds nothing, as PHP decodes nothing from it.
 */
export async function readParams(request: Request): Promise<PhpParams> {
  const query = phpFormParams(new URL(request.url).searchParams);
  return Object.assign(emptyParams(), query, await bodyParams(request));
}

async function bodyParams(request: Request): Promise<PhpParams> {
  if (!request.body) return emptyParams();
  const type = mediaType(request.headers.get('content-type'));
  if (type === 'application/json') return jsonParams(await request.text());
  if (type === 'application/x-www-form-urlencoded') {
    return phpFormParams(new URLSearchParams(await request.text()));
  }
  if (type === 'multipart/form-data') {
    const form = await request.formData().catch(() => undefined);
    if (!form) return emptyParams();
    const entries: [string, string][] = [];
    // Files go to PHP's $_FILES, not to the parameters.
    form.forEach((value, key) => {
      if (typeof value === 'string') entries.push([key, value]);
    });
    return phpFormParams(entries);
  }
  return emptyParams();
}

function jsonParams(text: string): PhpParams {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return emptyParams();
  }
  // PHP decodes a JSON list to an array with keys 0, 1, …; a scalar gives no parameters.
  return typeof value === 'object' && value !== null ? Object.assign(emptyParams(), value) : emptyParams();
}

function mediaType(header: string | null): string | undefined {
  return header?.split(';')[0]?.trim().toLowerCase() || undefined;
}
