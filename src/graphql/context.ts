/** What every resolver gets: the caller, the services, and this request's batching loaders. */
import DataLoader from "dataloader";
import { GraphQLError } from "graphql";
import type { Identity } from "../auth/service";
import type { Core } from "../app";
import type { Realtime } from "../realtime/realtime";
import type { UserProfile } from "../users/model";
import type { MessageView } from "../messages/model";

export interface Services {
  core: Core;
  realtime: Realtime;
}

export interface GraphQLContext extends Services {
  identity: Identity | null;
  loaders: Loaders;
}

export interface Loaders {
  user: DataLoader<number, UserProfile | null>;
  message: DataLoader<string, MessageView | null>;
}

/**
 * Loaders live for one operation (one HTTP request, one subscription event), so a field
 * asked for fifty times costs one query, and nothing is cached across callers.
 */
export function createLoaders(s: Services, viewerId: number): Loaders {
  return {
    user: new DataLoader(async (ids) => {
      const found = s.core.users.getProfiles(viewerId, ids);
      return ids.map((id) => found.get(id) ?? null);
    }),
    message: new DataLoader(async (ids) => {
      const found = s.core.messages.getMany(viewerId, ids);
      return ids.map((id) => found.get(id) ?? null);
    }),
  };
}

/** The caller, or an UNAUTHENTICATED error (every operation needs one). */
export function requireIdentity(ctx: GraphQLContext): Identity {
  // No token at all: 401 with the bare challenge, as REST answers (CONTRACT §3).
  if (!ctx.identity)
    throw new GraphQLError("This operation needs an access token", {
      extensions: { code: "AUTH_REQUIRED", http: { status: 401, headers: { "WWW-Authenticate": 'Bearer realm="confab"' } } },
    });
  return ctx.identity;
}
