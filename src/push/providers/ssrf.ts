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

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function v6Groups(ip: string): number[] | null {
  let text = ip.toLowerCase().replace(/%.*$/, "");
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToInt(dotted[1]!);
    text = text.slice(0, dotted.index) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail, ...rest] = text.split("::");
  if (rest.length) return null;
  const part = (p: string | undefined) => (p ? p.split(":").map((g) => parseInt(g, 16)) : []);
  const h = part(head);
  const t = part(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

export function isPrivateAddress(ip: string): boolean {
  if (isIP(ip) === 4) {
    const n = v4ToInt(ip);
    return V4_BLOCKED.some(([net, bits]) => n >>> (32 - bits) === net >>> (32 - bits));
  }
  const g = v6Groups(ip);
  if (!g) return true; // not an address we understand: refuse
  const v4 = (hi: number, lo: number) => `${hi >>> 8}.${hi & 0xff}.${lo >>> 8}.${lo & 0xff}`;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  // IPv4 inside IPv6 reaches the IPv4 address: ::ffff:a.b.c.d (mapped; the URL parser writes it
  // as ::ffff:7f00:1), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64).
  if (zeros(5) && g[5] === 0xffff) return isPrivateAddress(v4(g[6]!, g[7]!));
  if (zeros(6)) return g[6] === 0 && g[7]! <= 1 ? true : isPrivateAddress(v4(g[6]!, g[7]!)); // also :: and ::1
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return isPrivateAddress(v4(g[6]!, g[7]!));
  const first = g[0]!;
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00; // ULA, link-local, multicast
}

/**
 * The endpoint's host did not resolve. At registration that is a refusal like the others; at
 * send time it may be a passing DNS failure, so the push is retried rather than the device
 * removed as dead.
 */
export class UnresolvedEndpointError extends AppError {}

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
  if (!addresses.length) {
    const message = "The subscription endpoint's host does not resolve";
    throw new UnresolvedEndpointError("VALIDATION_ERROR", message, [{ field: "device_token", message }]);
  }
  if (addresses.some(isPrivateAddress)) throw refuse("The subscription endpoint points at a private or local address");
  return url;
}
