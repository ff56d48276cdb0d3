/**
 * Every refusal the store makes is a MapleError with a stable string `code`.
 * Errors are created here and only here, so each message names what was wrong.
 */
export type MapleErrorCode =
  | 'EINVAL'
  | 'EEXIST'
  | 'EBUSY'
  | 'ECORRUPT'
  | 'ELOCKED'
  | 'EREADONLY'
  | 'ECLOSED'
  | 'ENOTSTORE'
  | 'ENOENT'
  | 'EIO';

export class MapleError extends Error {
  readonly code: MapleErrorCode;
  constructor(code: MapleErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'MapleError';
    this.code = code;
  }
}

export function invalid(message: string): MapleError {
  return new MapleError('EINVAL', message);
}

export function corrupt(message: string): MapleError {
  return new MapleError('ECORRUPT', message);
}

/** An internal invariant; a failure is a bug report, never a silent wrong answer. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new MapleError('ECORRUPT', `internal invariant failed: ${message}`);
}
