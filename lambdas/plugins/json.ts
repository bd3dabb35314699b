/** A plain JSON object (not null, not an array): the shape checks of untrusted documents start here. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
