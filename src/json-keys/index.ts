// JSON.parse keeps the last of two equal keys and says nothing. For a request, that is input silently
// dropped: `{"CHAT_ID":1,"CHAT_ID":2}` must be refused, as a form's repeated key is.

/**
 * The first key that appears twice in the top-level object of `text`, which must be valid JSON (parse it
 * first). One pass over the text, whatever its nesting; nested objects are not looked into.
 */
export function repeatedTopLevelKey(text: string): string | undefined {
  const seen = new Set<string>();
  let depth = 0;
  for (let at = 0; at < text.length; at++) {
    const char = text.charCodeAt(at);
    if (char === QUOTE) {
      const start = at;
      for (at++; text.charCodeAt(at) !== QUOTE; at++) if (text.charCodeAt(at) === BACKSLASH) at++;
      if (depth === 1 && followedByColon(text, at + 1)) {
        const key = JSON.parse(text.slice(start, at + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) depth++;
    else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) depth--;
  }
  return undefined;
}

const [QUOTE, BACKSLASH, COLON] = [0x22, 0x5c, 0x3a];
const [OPEN_BRACE, CLOSE_BRACE, OPEN_BRACKET, CLOSE_BRACKET] = [0x7b, 0x7d, 0x5b, 0x5d];

function followedByColon(text: string, from: number): boolean {
  let at = from;
  while (at < text.length && /\s/.test(text[at]!)) at++;
  return text.charCodeAt(at) === COLON;
}
