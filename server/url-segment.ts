/**
 * Decodes one URL path segment. A malformed escape (`%E0`) is left as it is, so the name check
 * that follows refuses it as bad input instead of a URIError surfacing as a 500.
 */
export function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
