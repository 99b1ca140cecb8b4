/**
 * The one error type of confab (ARCHITECTURE rule 5). Services throw AppError; each transport
 * renders it: the HTTP plugin as the contract's envelope, the WebSocket gateway as an `error`
 * frame, GraphQL as a payload error or a GraphQL error.
 */

/** One field-level problem, as in the seed's `details` array. */
export interface FieldError {
  field: string;
  message: string;
}

/** The contract's error codes (CONTRACT §3) with their HTTP status. */
export const ERROR_STATUS = {
  VALIDATION_ERROR: 400,
  INVALID_JSON: 400,
  AUTH_REQUIRED: 401,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  INVALID_CREDENTIALS: 401,
  FORBIDDEN: 403,
  ACCOUNT_DISABLED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: FieldError[],
    /** Seconds a client should wait (429 and 503): becomes the Retry-After header. */
    readonly retryAfter?: number,
  ) {
    super(message);
    this.name = "AppError";
    this.status = ERROR_STATUS[code];
  }
}

/** A VALIDATION_ERROR naming the fields at fault. */
export function validationError(details: FieldError[], message = "Invalid request parameters"): AppError {
  return new AppError("VALIDATION_ERROR", message, details);
}

/** Shorthand for the common case of one bad field. */
export function invalidField(field: string, message: string): AppError {
  return validationError([{ field, message }]);
}

export const notFound = (what = "Resource") => new AppError("NOT_FOUND", `${what} not found`);
export const forbidden = (message = "You are not allowed to do this") => new AppError("FORBIDDEN", message);
