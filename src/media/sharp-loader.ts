/**
 * Loading sharp, also inside the compiled executable (TOOLCHAIN.md). `bun build --compile`
 * embeds sharp's `.node` addon and extracts it when required, but not the libvips library the
 * addon links against (`libvips-cpp.so.*`, found beside it in node_modules through its RUNPATH).
 * So the executable embeds that library too (the `with { type: "file" }` import below), writes it
 * to a private temp dir on first use and dlopens it; when the addon is loaded next, the dynamic
 * linker finds a library with the wanted soname already in the process and uses it.
 *
 * Run from source (`bun run`, `bun test`) the import is simply the file in node_modules and
 * sharp loads the usual way. Built for linux-x64 (this import names that platform's package).
 */
import type SharpModule from "sharp";
import { dlopen } from "bun:ffi";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import libvipsFile from "@img/sharp-libvips-linux-x64/binary" with { type: "file" };

export type Sharp = typeof SharpModule;

/**
 * Process-wide on purpose (not a service singleton): a native library is loaded into the process
 * once, whichever server or command asks first. Holding the dlopen handle keeps it loaded.
 */
let loaded: { sharp: Sharp; handle: unknown } | undefined;

/** sharp, loaded on first use (so CLI commands that never touch images never pay for it). */
export function loadSharp(): Sharp {
  if (loaded) return loaded.sharp;
  const handle = isEmbedded(libvipsFile) ? preloadLibvips(libvipsFile) : null;
  // require, not import: a static import would load the addon at startup, before the library is
  // in place; Bun's bundler still sees this call and embeds sharp and its addon.
  const sharp = require("sharp") as Sharp;
  // No cache of decoded images or open files between requests: memory stays bounded, and a
  // temp file sharp has read can be deleted at once.
  sharp.cache(false);
  loaded = { sharp, handle };
  return sharp;
}

/** Files embedded in a compiled executable live in Bun's virtual filesystem. */
function isEmbedded(path: string): boolean {
  return path.startsWith("/$bunfs/") || /^[A-Za-z]:[\\/]~BUN[\\/]/.test(path);
}

function preloadLibvips(embedded: string): unknown {
  const dir = mkdtempSync(join(tmpdir(), "confab-libvips-"));
  try {
    const path = join(dir, "libvips-cpp.so");
    writeFileSync(path, readFileSync(embedded), { mode: 0o700 });
    // bun:ffi wants at least one symbol; vips_version exists in every libvips.
    return dlopen(path, { vips_version: { args: ["i32"], returns: "i32" } });
  } finally {
    // The mapping outlives the file: nothing is left in /tmp once the library is loaded.
    rmSync(dir, { recursive: true, force: true });
  }
}
