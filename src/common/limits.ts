/** Named limits of the public model. */

/** Largest index: 2^53 − 1, every index is an exactly representable JavaScript integer. */
export const MAX_INDEX = Number.MAX_SAFE_INTEGER;
