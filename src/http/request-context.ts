/**
 * Per-request facts shared by the cross-cutting plugins (request id, timing, caller, client IP),
 * keyed by the Request object. One map per app, made by the composition root.
 */
import type { Identity } from "../auth/service";
import type { AppError } from "../lib/errors";

export interface RequestMeta {
  id: string;
  start: number;
  ip: string;
  identity: Identity | null;
  /** Why the Authorization header was refused; thrown only by routes that need a caller. */
  authError: AppError | null;
}

export type RequestContexts = WeakMap<Request, RequestMeta>;

/** Accept the client's X-Request-Id when it is short and plain, else make one. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given && SANE_REQUEST_ID.test(given) ? given : crypto.randomUUID();
}
