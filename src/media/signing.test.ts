/** Signed media URLs with a controlled clock: expiry, rounding, tampering, key separation. */
import { describe, expect, test } from "bun:test";
import { UrlSigner } from "./signing";

const secret = new Uint8Array(64).fill(7);
const id = "0b6f8f5e-3c1a-4d7e-9a55-1f2e3d4c5b6a";

function parts(url: string) {
  const u = new URL(url);
  return { path: u.pathname, exp: u.searchParams.get("exp")!, sig: u.searchParams.get("sig")! };
}

describe("UrlSigner", () => {
  test("a minted URL verifies until it expires, then says expired", () => {
    let now = 1_700_000_000_000;
    const signer = new UrlSigner(secret, "https://chat.example.org/", 3600, () => now);
    const { path, exp, sig } = parts(signer.url(id, "file"));
    expect(path).toBe(`/media/${id}`);
    expect(signer.verify(id, "file", exp, sig)).toBe("ok");
    now = Number(exp) * 1000;
    expect(signer.verify(id, "file", exp, sig)).toBe("ok");
    now += 1000;
    expect(signer.verify(id, "file", exp, sig)).toBe("expired");
  });

  test("expiry is the TTL rounded up to a step, so links minted close together are identical", () => {
    let now = 1_700_000_000_000;
    const signer = new UrlSigner(secret, "http://localhost:8080", 3600, () => now);
    const a = signer.url(id, "thumbnail");
    now += 1000;
    expect(signer.url(id, "thumbnail")).toBe(a);
    const exp = Number(parts(a).exp);
    expect(exp % 360).toBe(0);
    expect(exp - 1_700_000_000).toBeGreaterThanOrEqual(3600);
    expect(exp - 1_700_000_000).toBeLessThan(3600 + 360);
    expect(parts(a).path).toBe(`/media/${id}/thumbnail`);
  });

  test("any change to id, variant, expiry or signature is invalid; so is a link from another server", () => {
    const now = () => 1_700_000_000_000;
    const signer = new UrlSigner(secret, "http://x", 60, now);
    const { exp, sig } = parts(signer.url(id, "file"));
    expect(signer.verify(id.replace("0b", "0c"), "file", exp, sig)).toBe("invalid");
    expect(signer.verify(id, "thumbnail", exp, sig)).toBe("invalid");
    expect(signer.verify(id, "file", String(Number(exp) + 1), sig)).toBe("invalid");
    expect(signer.verify(id, "file", exp, sig.slice(0, -1) + (sig.endsWith("A") ? "B" : "A"))).toBe("invalid");
    expect(signer.verify(id, "file", undefined, sig)).toBe("invalid");
    expect(signer.verify(id, "file", exp, undefined)).toBe("invalid");
    expect(signer.verify(id, "file", "-5", sig)).toBe("invalid");
    const other = new UrlSigner(new Uint8Array(64).fill(8), "http://x", 60, now);
    expect(other.verify(id, "file", exp, sig)).toBe("invalid");
  });

  test("setBase changes where links point, not what they sign", () => {
    const signer = new UrlSigner(secret, "http://localhost:0", 60, () => 0);
    const before = parts(signer.url(id, "file"));
    signer.setBase("http://localhost:4321/");
    const url = signer.url(id, "file");
    expect(url.startsWith(`http://localhost:4321/media/${id}?`)).toBe(true);
    expect(parts(url).sig).toBe(before.sig);
  });
});
