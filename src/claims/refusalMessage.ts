// A refusal message written by a script or an authorizer, made safe to send: it ends up in a
// response body and, for RFC 6750 refusals, in a header.

const MAX_REFUSAL_MESSAGE_LENGTH = 256;

/** `text` without control characters, trimmed and capped; undefined when nothing is left. */
export function refusalMessage(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const clean = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  if (clean === '') return undefined;
  return clean.length > MAX_REFUSAL_MESSAGE_LENGTH ? `${clean.slice(0, MAX_REFUSAL_MESSAGE_LENGTH - 1)}…` : clean;
}
