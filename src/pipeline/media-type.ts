import { gatewayError, type Rejection } from '../error-matrix';

/**
 * 415 UNSUPPORTED_MEDIA_TYPE for a body of a media type the operation does not take, or in a charset other
 * than UTF-8 (bytes in another charset would be read as other characters, silently), or with parameters
 * that are not `;name=value`. No Content-Type passes: without a body there are no parameters, which the
 * method's checks answer (a body without one is refused by the validation).
 */
const wellFormed = /^[^;\s]+(;\s*[a-zA-Z0-9-]+=[^;]+)*$/;

export function mediaTypeProblem(
  mediaTypes: readonly string[],
): (contentType: string | undefined) => Rejection | undefined {
  return (contentType) => {
    if (contentType === undefined) return undefined;
    const [essence, ...parameters] = contentType.split(';').map((part) => part.trim().toLowerCase());
    if (!mediaTypes.includes(essence!)) {
      return gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Type ${JSON.stringify(essence!.slice(0, 100))} is not accepted; send ${mediaTypes.join(' or ')}`,
      );
    }
    if (!wellFormed.test(contentType)) {
      return gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `The parameters of Content-Type ${essence} are not well formed: write each as ;name=value`,
      );
    }
    const charset = parameters
      .find((parameter) => parameter.startsWith('charset='))
      ?.slice('charset='.length)
      .replace(/^"|"$/g, '');
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
      return gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `charset ${JSON.stringify(charset.slice(0, 40))} is not accepted; send the body in UTF-8`,
      );
    }
    return undefined;
  };
}

/**
 * 415 UNSUPPORTED_MEDIA_TYPE for a request that declares a content coding: the gateway decodes none, and a
 * `gzip` body read as plain text would be judged (and forwarded) as other parameters than the caller's.
 * Only `identity`, alone or repeated, passes; an empty Content-Encoding declares nothing valid and is refused
 * too. Node joins repeated headers with ", ", so every coding of every header is seen. A Transfer-Encoding
 * with a coding besides `chunked` (`gzip, chunked`) is refused alike: Node's parser decodes only the chunks.
 */
export function contentEncodingProblem(
  contentEncoding: string | undefined,
  transferEncoding?: string,
): Rejection | undefined {
  if (contentEncoding !== undefined) {
    const named = codingsBesides(contentEncoding, 'identity');
    if (named !== undefined) {
      return gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Content-Encoding ${JSON.stringify(named.slice(0, 40))} is not accepted: the gateway decodes no content coding; send the body unencoded`,
      );
    }
  }
  if (transferEncoding === undefined) return undefined;
  // Node's parser takes `chunked` apart (and refuses a body whose last coding is not chunked), nothing else.
  const named = codingsBesides(transferEncoding, 'chunked');
  return named === undefined
    ? undefined
    : gatewayError(
        'UNSUPPORTED_MEDIA_TYPE',
        `Transfer-Encoding ${JSON.stringify(named.slice(0, 40))} is not accepted: the gateway decodes no coding but chunked; send the body unencoded`,
      );
}

/** The codings a header lists besides `plain` (which may be repeated), or undefined when there are none. */
function codingsBesides(header: string, plain: string): string | undefined {
  const codings = header.split(',').map((coding) => coding.trim().toLowerCase());
  if (codings.every((coding) => coding === plain)) return undefined;
  return codings.filter((coding) => coding !== plain).join(', ');
}
