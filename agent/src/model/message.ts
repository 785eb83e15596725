// The one rule for every message the agent stores or shows (probe outcomes, conditions, Events):
// printable, single-line, at most `max` characters.

/** The longest message a probe outcome carries (conditions and Events may cut further). */
export const MAX_MESSAGE_LENGTH = 1024;

/** Control characters become a space; longer than `max` is cut with "..." to exactly `max`. */
export function boundMessage(message: string, max: number = MAX_MESSAGE_LENGTH): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point
  const clean = message.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return clean.length <= max ? clean : `${clean.slice(0, Math.max(0, max - 3))}...`;
}
