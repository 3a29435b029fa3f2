// Caller text decoded strictly. The WHATWG decoders (Response.text(), URLSearchParams) turn bytes that are
// not UTF-8 into U+FFFD, and JSON.parse takes a `\ud800` escape as a lone surrogate that no UTF-8 can carry
// (PHP's json_decode refuses it): either way what reached Bitrix24 would not be what the caller sent. These
// checks find such a body, in time linear in its size, so that it is refused instead of repaired.
import { isUtf8 } from 'node:buffer';

/** Why a body is not text the gateway may read: undefined when it is. */
export type TextProblem = string | undefined;

/**
 * A JSON body's bytes: valid UTF-8, and no `\u` escape of half a surrogate pair. `text`: the bytes already
 * decoded, when the caller has them (with its BOM or without: a BOM is no escape).
 */
export function jsonTextProblem(bytes: Uint8Array, text?: string): TextProblem {
  if (!isUtf8(bytes)) return 'The body is not valid UTF-8: JSON must be sent in UTF-8, and no byte of it is repaired';
  const lone = loneSurrogateEscape(
    text ?? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
  );
  return lone === undefined
    ? undefined
    : `The body holds a lone surrogate (\\u${lone}): a \\u escape of U+D800 to U+DFFF must be half of a pair (PHP's json_decode refuses it)`;
}

/**
 * The first `\u` escape in `text` (JSON) of a surrogate that is not half of a pair, as its four hex digits;
 * undefined when there is none. Escapes are read in order, so that `\\ud800` (a backslash, then text) is
 * none. Outside strings a backslash is not JSON at all, which the parser refuses.
 */
export function loneSurrogateEscape(text: string): string | undefined {
  if (!text.includes('\\')) return undefined;
  const escapes = /\\(?:u([0-9a-fA-F]{4})|[\s\S])/g;
  let pendingHigh: { hex: string; end: number } | undefined;
  for (let match = escapes.exec(text); match !== null; match = escapes.exec(text)) {
    const hex = match[1];
    const unit = hex === undefined ? -1 : Number.parseInt(hex, 16);
    const isLow = unit >= 0xdc00 && unit <= 0xdfff;
    if (pendingHigh) {
      if (isLow && match.index === pendingHigh.end) {
        pendingHigh = undefined;
        continue;
      }
      return pendingHigh.hex;
    }
    if (isLow) return hex;
    if (unit >= 0xd800 && unit <= 0xdbff) pendingHigh = { hex: hex!, end: match.index + match[0].length };
  }
  return pendingHigh?.hex;
}

/**
 * A form body's bytes: valid UTF-8 as sent, and every name and value valid UTF-8 once percent-decoded
 * (`CHAT_ID=%FF` is not), as PHP reads them. A `%` not followed by two hex digits stays itself, as there.
 */
export function formTextProblem(bytes: Uint8Array, isParameter: (name: string) => boolean): TextProblem {
  if (!isUtf8(bytes)) return 'The body is not valid UTF-8: a form must be sent in UTF-8, and no byte of it is repaired';
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (!text.includes('%')) return undefined;
  for (const pair of text.split('&')) {
    const at = pair.indexOf('=');
    const [name, value] = at < 0 ? [pair, ''] : [pair.slice(0, at), pair.slice(at + 1)];
    const decodedName = percentDecoded(name);
    if (!isUtf8(decodedName)) return 'A parameter name of the form is not valid UTF-8 once percent-decoded';
    if (!isUtf8(percentDecoded(value))) {
      const shown = Buffer.from(decodedName).toString('utf8');
      return `The value of ${isParameter(shown) ? shown : 'a form parameter'} is not valid UTF-8 once percent-decoded`;
    }
  }
  return undefined;
}

/** The bytes of a form's name or value: `+` is a space, `%XX` the byte XX, anything else its UTF-8. */
export function percentDecoded(component: string): Uint8Array {
  const source = Buffer.from(component.replaceAll('+', ' '), 'utf8');
  if (!source.includes(0x25)) return source;
  const out = Buffer.allocUnsafe(source.length);
  let length = 0;
  for (let at = 0; at < source.length; at++) {
    const byte = source[at]!;
    const high = hexValue(source[at + 1]);
    const low = hexValue(source[at + 2]);
    if (byte === 0x25 && high >= 0 && low >= 0) {
      out[length++] = high * 16 + low;
      at += 2;
    } else out[length++] = byte;
  }
  return out.subarray(0, length);
}

function hexValue(byte: number | undefined): number {
  if (byte === undefined) return -1;
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}
