/**
 * AppError in GraphQL (ARCHITECTURE rule 5): validation problems become payload `errors`
 * (`{field, message}` with camelCase fields, as in the seed); everything else a GraphQL error
 * whose `extensions.code` is the contract's code.
 */
import { GraphQLError } from "graphql";
import { AppError, type FieldError } from "../lib/errors";

const camel = (field: string) => field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

export function toGraphQLError(e: unknown): GraphQLError {
  if (e instanceof GraphQLError) return e;
  if (e instanceof AppError) return new GraphQLError(e.message, { extensions: { code: e.code, ...(e.details ? { details: e.details } : {}) } });
  throw e; // a bug: yoga masks it as an internal error and logs it
}

/**
 * Run a mutation body: its result with `errors: []`, or on a validation problem `errors`
 * filled and the other fields null. Other failures are thrown as GraphQL errors.
 */
export async function payload<T extends object>(fn: () => Promise<T> | T): Promise<T & { errors: FieldError[] }> {
  try {
    return { ...(await fn()), errors: [] };
  } catch (e) {
    if (e instanceof AppError && e.code === "VALIDATION_ERROR") {
      const errors = (e.details?.length ? e.details : [{ field: "input", message: e.message }]).map((d) => ({ field: camel(d.field), message: d.message }));
      return { errors } as T & { errors: FieldError[] };
    }
    throw toGraphQLError(e);
  }
}

/** Run a resolver, turning AppError into a GraphQL error. */
export async function guarded<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toGraphQLError(e);
  }
}

/** A GraphQL ID that must be a positive integer. */
export function intId(id: string | number, field: string): number {
  const n = Number(id);
  if (!Number.isSafeInteger(n) || n < 1) throw new AppError("VALIDATION_ERROR", `${field} must be a positive integer id`, [{ field, message: "Not a valid id" }]);
  return n;
}
