/** The uids builds run as (`--build-uids FIRST-LAST`): one per running build. */
export interface UidRange {
  first: number;
  last: number;
}

/** "100000-165535" → {first, last}; undefined when malformed or outside 1…2^31-2. */
export function parseUidRange(text: string): UidRange | undefined {
  const m = /^(\d{1,10})-(\d{1,10})$/.exec(text.trim());
  if (!m) return undefined;
  const first = Number(m[1]);
  const last = Number(m[2]);
  if (first < 1 || last < first || last > 2 ** 31 - 2) return undefined;
  return { first, last };
}
