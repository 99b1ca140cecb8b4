/**
 * Media's pieces built from a config, for the composition root: where files go under the data
 * dir, the URL signer (needed early: profiles show picture links), the service, the messages
 * port and the collector.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config";
import type { Db } from "../db/open";
import type { BatchedWriter } from "../db/batched-writer";
import type { ConversationService } from "../conversations/service";
import type { Logger } from "../lib/log";
import type { UserRow } from "../users/model";
import type { UserService } from "../users/service";
import { MediaAttachments } from "./attachments";
import { MediaCollector } from "./gc";
import { ImageProcessor } from "./images";
import { MediaService } from "./service";
import { UrlSigner } from "./signing";
import { DiskStorage, type MediaStorage } from "./storage";
import { MediaStore } from "./store";

export interface Media {
  signer: UrlSigner;
  service: MediaService;
  attachments: MediaAttachments;
  collector: MediaCollector;
}

/** <data-dir>/media/{blobs,tmp}: the temp dir sits beside the store so finished uploads are renamed in. */
export function mediaDirs(dataDir: string) {
  const root = join(dataDir, "media");
  return { root, blobs: join(root, "blobs"), tmp: join(root, "tmp") };
}

/** Signs media links with a key derived from the server secret; the base is fixed once the port is known. */
export function mediaSigner(config: Config, serverSecret: Uint8Array): UrlSigner {
  return new UrlSigner(serverSecret, config.publicUrl ?? `http://localhost:${config.port}`, config.mediaUrlTtl);
}

/** The user's picture link (UserService's `pictureUrl`): users.profile_picture names a media file. */
export function pictureUrlWith(signer: UrlSigner) {
  return (row: Pick<UserRow, "profile_picture">): string | null => (row.profile_picture ? signer.url(row.profile_picture, "file") : null);
}

export interface MediaDeps {
  config: Config;
  db: Db;
  signer: UrlSigner;
  conversations: ConversationService;
  users: UserService;
  writer: BatchedWriter;
  log: Logger;
  /** Another backend (S3) slots in here; by default files under the data dir. */
  storage?: MediaStorage;
}

export function buildMedia(d: MediaDeps): Media {
  const dirs = mediaDirs(d.config.dataDir);
  for (const dir of [dirs.root, dirs.blobs, dirs.tmp]) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const storage = d.storage ?? new DiskStorage(dirs.blobs, dirs.tmp);
  const store = new MediaStore(d.db);
  const log = d.log.tag("media");
  const images = new ImageProcessor(dirs.tmp, log);
  const service = new MediaService(store, storage, d.signer, images, d.conversations, d.users, d.writer, log, {
    tmpDir: dirs.tmp,
    maxUploadBytes: d.config.maxUploadBytes,
  });
  return { signer: d.signer, service, attachments: new MediaAttachments(store, d.signer), collector: new MediaCollector(store, storage, dirs.tmp) };
}
