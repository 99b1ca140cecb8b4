/**
 * Media's side of the messages ↔ media port (src/messages/attachments.ts): which uploads a
 * message may carry, and their views with URLs minted per response, so only someone who can
 * read the message (a participant) is handed a working link, and every link is fresh.
 */
import { invalidField } from "../lib/errors";
import type { Attachments } from "../messages/attachments";
import type { MediaAttachmentView, MessageView } from "../messages/model";
import type { MessageType } from "../messages/store";
import type { UrlSigner } from "./signing";
import type { AttachmentRow, MediaStore } from "./store";
import { fits } from "./types";

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class MediaAttachments implements Attachments {
  constructor(
    private readonly store: MediaStore,
    private readonly signer: UrlSigner,
  ) {}

  requireAttachable(senderId: number, conversationId: number, type: MessageType, fileIds: readonly string[]) {
    if (!fileIds.length) return;
    if (new Set(fileIds).size !== fileIds.length) throw bad("The same file_id is attached twice");
    const rows = new Map(this.store.selectMediaByIds(fileIds.filter((id) => UUID_RE.test(id))).map((r) => [r.id, r]));
    for (const id of fileIds) {
      const r = rows.get(id);
      // Someone else's upload, another conversation's, a profile picture, a released file: all
      // look the same to the sender, an id they may not use.
      if (!r || r.purpose !== "message" || r.uploader_id !== senderId || r.conversation_id !== conversationId || r.released_at !== null)
        throw bad(`Unknown file_id ${id}: attach files you uploaded to this conversation with POST /api/v1/media/upload`);
      if (type === "text" || !fits(r.mime, type)) throw bad(`File ${id} is ${r.mime}, which cannot be sent as ${type}`);
    }
  }

  attach(messageSeq: number, fileIds: readonly string[]) {
    if (fileIds.length) this.store.insertAttachments(messageSeq, fileIds);
  }

  viewsOf(messageSeqs: readonly number[]): Map<number, MediaAttachmentView[]> {
    const out = new Map<number, MediaAttachmentView[]>();
    for (const r of this.store.selectAttachments(messageSeqs)) {
      let list = out.get(r.message_seq);
      if (!list) out.set(r.message_seq, (list = []));
      list.push(this.view(r));
    }
    return out;
  }

  detach(messageSeq: number, now: number) {
    this.store.deleteAttachments(messageSeq, now);
  }

  detachAllOf(senderId: number, now: number) {
    this.store.deleteAttachmentsOfSender(senderId, now);
  }

  /**
   * The same message with its links minted now: the journal keeps events for days, and a
   * replayed `new_message` must not hand out links that expired long ago.
   */
  remint(message: MessageView): MessageView {
    if (!message.media_attachments?.length) return message;
    return {
      ...message,
      media_attachments: message.media_attachments.map((a) => ({
        ...a,
        file_url: this.signer.url(a.file_id, "file"),
        thumbnail_url: a.thumbnail_url ? this.signer.url(a.file_id, "thumbnail") : null,
      })),
    };
  }

  private view(r: AttachmentRow): MediaAttachmentView {
    return {
      file_id: r.id,
      file_type: r.mime,
      file_url: this.signer.url(r.id, "file"),
      thumbnail_url: r.thumb_blob ? this.signer.url(r.id, "thumbnail") : null,
      file_size: r.size,
      file_name: r.file_name,
      dimensions: r.width !== null && r.height !== null ? { width: r.width, height: r.height } : null,
    };
  }
}

function bad(message: string) {
  return invalidField("media_attachments", message);
}
