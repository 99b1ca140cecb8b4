/** The disk backend of MediaStorage on a temp dir: what any backend must do. */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskStorage } from "./storage";

const root = mkdtempSync(join(tmpdir(), "confab-storage-"));
const blobs = join(root, "blobs");
const tmp = join(root, "tmp");
mkdirSync(blobs);
mkdirSync(tmp);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const storage = new DiskStorage(blobs, tmp);
const keyOf = (text: string) => new Bun.CryptoHasher("sha256").update(text).digest("hex");

function tempFile(text: string): string {
  const path = join(tmp, `t-${crypto.randomUUID()}`);
  writeFileSync(path, text);
  return path;
}

describe("DiskStorage", () => {
  test("put moves a temp file into place; open reads it, whole or a slice; stat sizes it", async () => {
    const key = keyOf("hello world");
    const path = tempFile("hello world");
    await storage.put(key, { path });
    expect(existsSync(path)).toBe(false);
    const opened = (await storage.open(key))!;
    expect(opened.size).toBe(11);
    expect(await opened.blob.text()).toBe("hello world");
    expect(await opened.blob.slice(6, 11).text()).toBe("world");
    expect((await storage.stat(key))!.size).toBe(11);
  });

  test("put from a stream", async () => {
    const key = keyOf("streamed");
    await storage.put(key, { stream: new Blob(["stream", "ed"]).stream() });
    expect(await (await storage.open(key))!.blob.text()).toBe("streamed");
  });

  test("putting a key again keeps the object, consumes the temp file, and refreshes its age", async () => {
    const key = keyOf("same");
    await storage.put(key, { path: tempFile("same") });
    const old = new Date(Date.now() - 86_400_000);
    utimesSync(join(blobs, key.slice(0, 2), key), old, old);
    const again = tempFile("same");
    await storage.put(key, { path: again });
    expect(existsSync(again)).toBe(false);
    expect((await storage.stat(key))!.modifiedAt).toBeGreaterThan(Date.now() - 60_000);
  });

  test("list yields every object; delete removes one (absent is fine); unknown keys are null", async () => {
    const keys = (await Array.fromAsync(storage.list())).map((o) => o.key).sort();
    expect(keys).toEqual([keyOf("hello world"), keyOf("streamed"), keyOf("same")].sort());
    await storage.delete(keyOf("streamed"));
    await storage.delete(keyOf("streamed"));
    expect(await storage.open(keyOf("streamed"))).toBeNull();
    expect(await storage.stat(keyOf("never"))).toBeNull();
  });

  test("only content hashes are keys: nothing can name a path outside the store", async () => {
    for (const bad of ["../../etc/passwd", "ab", "A".repeat(64), `${"a".repeat(63)}/`]) await expect(storage.open(bad)).rejects.toThrow("invalid media key");
  });
});
