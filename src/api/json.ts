/**
 * Parse `text` as JSON; null unless it is an object (an array counts as one).
 */
export function parseJsonObject(
  text: string
): { [key: string]: unknown } | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) {
    return null;
  }
  return data as { [key: string]: unknown };
}
