/**
 * Bun pub/sub topic names, derived server-side only (STYLE habit 14): a client never names a
 * topic, it asks to subscribe to a conversation and the gateway checks membership first.
 */
export const topics = {
  /** Events of one conversation: messages, receipts, typing, membership. */
  conversation: (id: number) => `c:${id}`,
  /** Events addressed to one user on every device. */
  user: (id: number) => `u:${id}`,
  /** One user's presence, watched by everyone who shares a conversation with them. */
  presence: (id: number) => `p:${id}`,
};
