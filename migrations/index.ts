/**
 * The ordered list of migrations. Each file is imported as text so `bun build --compile`
 * embeds it: the executable needs no migrations/ folder beside it. Add new files at the end;
 * never edit one that has shipped.
 */
import type { Migration } from "../src/db/migrate";
import init from "./0001_init.sql" with { type: "text" };
import messages from "./0002_messages.sql" with { type: "text" };
import events from "./0003_events.sql" with { type: "text" };
import media from "./0004_media.sql" with { type: "text" };
import push from "./0005_push.sql" with { type: "text" };
import pushJobsByDevice from "./0006_push_jobs_by_device.sql" with { type: "text" };

export const migrations: readonly Migration[] = [
  { name: "0001_init", sql: init },
  { name: "0002_messages", sql: messages },
  { name: "0003_events", sql: events },
  { name: "0004_media", sql: media },
  { name: "0005_push", sql: push },
  { name: "0006_push_jobs_by_device", sql: pushJobsByDevice },
];
