/**
 * A Web Push endpoint is a URL a client chose, so the server must not be usable to reach
 * internal services (CONTRACT §11): https only, and never loopback, private, link-local or
 * other special addresses unless CONFAB_PUSH_ALLOW_PRIVATE_ENDPOINTS=1 (which lifts only the
 * address rule). Checked at registration and again before each send (DNS may change).
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { AppError } from "../../lib/errors";

const V4_BLOCKED: [number, number][] = [
  [0x00000000, 8], // 0.0.0.0/8 "this network"
  [0x0a000000, 8], // 10/8
  [0x64400000, 10], // 100.64/10 carrier-grade NAT
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (cloud metadata lives here)
  [0xac100000, 12], // 172.16/12
  [0xc0a80000, 16], // 192.168/16
  [0xc6120000, 15], // 198.18/15 benchmarking
  [0xe0000000, 3], // multicast and reserved
];

function v4ToInt(ip: string): number {
  return ip.split(".").reduce((n, part) => (n << 8) + Number(part), 0) >>> 0;
}

export function isPrivateAddress(ip: string): boolean {
  if (isIP(ip) === 4) {
    const n = v4ToInt(ip);
    return V4_BLOCKED.some(([net, bits]) => n >>> (32 - bits) === net >>> (32 - bits));
  }
  const v6 = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (mapped) return isPrivateAddress(mapped[1]!);
  return v6 === "::" || v6 === "::1" || /^f[cd]/.test(v6) || /^fe[89ab]/.test(v6) || /^ff/.test(v6);
}

/** Throws VALIDATION_ERROR (field `device_token`) when the endpoint may not be used. */
export async function checkPushEndpoint(endpoint: string, allowPrivate: boolean): Promise<URL> {
  const refuse = (message: string) => new AppError("VALIDATION_ERROR", message, [{ field: "device_token", message }]);
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw refuse("The subscription endpoint is not a URL");
  }
  if (url.protocol !== "https:") throw refuse("The subscription endpoint must use https");
  if (allowPrivate) return url;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const addresses = isIP(host) ? [host] : await lookup(host, { all: true }).then((r) => r.map((a) => a.address)).catch(() => []);
  if (!addresses.length) throw refuse("The subscription endpoint's host does not resolve");
  if (addresses.some(isPrivateAddress)) throw refuse("The subscription endpoint points at a private or local address");
  return url;
}
