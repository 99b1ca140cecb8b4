/** Uploads and message attachments: every statement prepared once per handle (ARCHITECTURE rule 3). */
import type { Db } from "../db/open";
import type { MediaMessageType } from "./types";

export interface MediaRow {
  id: string;
  uploader_id: number | null;
  conversation_id: number | null;
  purpose: "message" | "avatar";
  message_type: MediaMessageType | null;
  mime: string;
  size: number;
  blob: string;
  thumb_blob: string | null;
  width: number | null;
  height: number | null;
  file_name: string | null;
  status: "completed" | "failed";
  created_at: number;
  released_at: number | null;
}

export type NewMedia = Omit<MediaRow, "released_at">;

/** One attachment of a page of messages, with what its view needs. */
export interface AttachmentRow {
  message_seq: number;
  id: string;
  mime: string;
  size: number;
  file_name: string | null;
  width: number | null;
  height: number | null;
  thumb_blob: string | null;
}

export class MediaStore {
  private readonly insertQ;
  private readonly byIdQ;
  private readonly byIdsQ;
  private readonly insertAttachmentQ;
  private readonly attachmentsQ;
  private readonly attachedIdsQ;
  private readonly deleteAttachmentsQ;
  private readonly releaseUnreferencedQ;
  private readonly releaseQ;
  private readonly deleteAttachmentsOfSenderQ;
  private readonly releaseUploadsOfQ;
  private readonly collectableQ;
  private readonly deleteQ;
  private readonly blobInUseQ;

  constructor(db: Db) {
    this.insertQ = db.query(
      `INSERT INTO media_files (id, uploader_id, conversation_id, purpose, message_type, mime, size, blob, thumb_blob, width, height, file_name, status, created_at)
       VALUES ($id, $uploader_id, $conversation_id, $purpose, $message_type, $mime, $size, $blob, $thumb_blob, $width, $height, $file_name, $status, $created_at)`,
    );
    this.byIdQ = db.query<MediaRow, [string]>("SELECT * FROM media_files WHERE id = ?");
    this.byIdsQ = db.query<MediaRow, [string]>("SELECT * FROM media_files WHERE id IN (SELECT value FROM json_each(?))");
    this.insertAttachmentQ = db.query("INSERT INTO message_attachments (message_seq, position, media_id) VALUES (?, ?, ?)");
    this.attachmentsQ = db.query<AttachmentRow, [string]>(
      `SELECT a.message_seq, m.id, m.mime, m.size, m.file_name, m.width, m.height, m.thumb_blob FROM message_attachments a JOIN media_files m ON m.id = a.media_id
       WHERE a.message_seq IN (SELECT value FROM json_each(?)) ORDER BY a.message_seq, a.position`,
    );
    this.attachedIdsQ = db.query<{ media_id: string }, [number]>("SELECT media_id FROM message_attachments WHERE message_seq = ?");
    this.deleteAttachmentsQ = db.query("DELETE FROM message_attachments WHERE message_seq = ?");
    this.releaseUnreferencedQ = db.query(
      `UPDATE media_files SET released_at = ?1 WHERE id IN (SELECT value FROM json_each(?2)) AND released_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.media_id = media_files.id)`,
    );
    this.releaseQ = db.query("UPDATE media_files SET released_at = ?1 WHERE id = ?2 AND released_at IS NULL");
    this.deleteAttachmentsOfSenderQ = db.query(
      "DELETE FROM message_attachments WHERE message_seq IN (SELECT seq FROM messages WHERE sender_id = ?)",
    );
    this.releaseUploadsOfQ = db.query(
      `UPDATE media_files SET released_at = ?1 WHERE uploader_id = ?2 AND purpose = 'message' AND released_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.media_id = media_files.id)`,
    );
    // Released files, and uploads never sent by `cutoff`; none attached or anybody's picture.
    const collectable = `SELECT id FROM media_files m
       WHERE (m.released_at IS NOT NULL OR m.created_at < ?1)
         AND NOT EXISTS (SELECT 1 FROM message_attachments a WHERE a.media_id = m.id)
         AND NOT EXISTS (SELECT 1 FROM users u WHERE u.profile_picture = m.id)
       ORDER BY m.created_at LIMIT ?2`;
    this.collectableQ = db.query<MediaRow, [number, number]>(`SELECT * FROM media_files WHERE id IN (${collectable})`);
    // One statement: a server attaching a file meanwhile either wins (the row stays) or loses.
    this.deleteQ = db.query<MediaRow, [number, number]>(`DELETE FROM media_files WHERE id IN (${collectable}) RETURNING *`);
    this.blobInUseQ = db.query<{ one: number }, [string]>(
      "SELECT 1 AS one FROM media_files WHERE blob = ?1 UNION ALL SELECT 1 FROM media_files WHERE thumb_blob = ?1 LIMIT 1",
    );
  }

  insertMedia(m: NewMedia) {
    this.insertQ.run({ ...m });
  }

  selectMedia(id: string): MediaRow | null {
    return this.byIdQ.get(id);
  }

  selectMediaByIds(ids: readonly string[]): MediaRow[] {
    return ids.length ? this.byIdsQ.all(JSON.stringify(ids)) : [];
  }

  insertAttachments(messageSeq: number, mediaIds: readonly string[]) {
    mediaIds.forEach((id, position) => this.insertAttachmentQ.run(messageSeq, position, id));
  }

  /** Attachments of many messages in one query, in message then attachment order. */
  selectAttachments(messageSeqs: readonly number[]): AttachmentRow[] {
    return messageSeqs.length ? this.attachmentsQ.all(JSON.stringify(messageSeqs)) : [];
  }

  /** Drop a message's attachments; files no other message carries are released. */
  deleteAttachments(messageSeq: number, now: number) {
    const ids = this.attachedIdsQ.all(messageSeq).map((r) => r.media_id);
    if (!ids.length) return;
    this.deleteAttachmentsQ.run(messageSeq);
    this.releaseUnreferencedQ.run(now, JSON.stringify(ids));
  }

  /** Account erasure: the sender's messages drop their files, and their uploads are released. */
  deleteAttachmentsOfSender(senderId: number, now: number) {
    this.deleteAttachmentsOfSenderQ.run(senderId);
    this.releaseUploadsOfQ.run(now, senderId);
  }

  release(id: string, now: number) {
    this.releaseQ.run(now, id);
  }

  /** Rows nothing uses any more: released ones, and uploads created before `cutoff` never sent. */
  selectCollectable(cutoff: number, limit: number): MediaRow[] {
    return this.collectableQ.all(cutoff, limit);
  }

  /** Delete up to `limit` of what selectCollectable finds; returns the rows deleted. */
  deleteCollectable(cutoff: number, limit: number): MediaRow[] {
    return this.deleteQ.all(cutoff, limit);
  }

  /** Whether any row still serves this stored object, as a file or a thumbnail. */
  blobInUse(key: string): boolean {
    return this.blobInUseQ.get(key) !== null;
  }
}
