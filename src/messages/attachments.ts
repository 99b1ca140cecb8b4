/**
 * What messages need from media, as a port: the media service implements it, so messages never
 * import media (and a server without media still sends text). Every method runs inside the
 * caller's write transaction or read, synchronously.
 */
import { invalidField } from "../lib/errors";
import type { MediaAttachmentView } from "./model";
import type { MessageType } from "./store";

export interface Attachments {
  /**
   * 400 VALIDATION_ERROR (field `media_attachments`) unless every id names a live upload by
   * `senderId` to `conversationId` whose type fits `type`.
   */
  requireAttachable(senderId: number, conversationId: number, type: MessageType, fileIds: readonly string[]): void;
  /** Record that the message carries these files, in this order. */
  attach(messageSeq: number, fileIds: readonly string[]): void;
  /** Views of the attachments of many messages in one query, with URLs minted now. */
  viewsOf(messageSeqs: readonly number[]): Map<number, MediaAttachmentView[]>;
  /** The message was deleted: it no longer references its files. */
  detach(messageSeq: number, now: number): void;
  /** Every message of the sender was erased (account deletion): so are their references. */
  detachAllOf(senderId: number, now: number): void;
}

/** No media configured: nothing can be attached, nothing is. */
export const NO_ATTACHMENTS: Attachments = {
  requireAttachable() {
    throw invalidField("media_attachments", "Unknown file_id: attach files uploaded with POST /api/v1/media/upload");
  },
  attach() {},
  viewsOf: () => new Map(),
  detach() {},
  detachAllOf() {},
};
