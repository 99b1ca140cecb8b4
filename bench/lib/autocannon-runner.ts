/**
 * autocannon in a process of its own (so it can be pinned to a core): reads the LoadOptions
 * JSON that load.ts wrote, cycles every connection through the request list, prints
 * autocannon's result as JSON on stdout.
 */
import { readFileSync } from "node:fs";
import type { LoadOptions } from "./load";

// No type declarations ship with autocannon: load it untyped.
const autocannon: (o: object) => Promise<unknown> = (await import("autocannon" as string)).default;
const o = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as LoadOptions;
const result = await autocannon({
  url: o.url,
  connections: o.connections,
  duration: o.seconds,
  requests: o.reqs.map((r) => ({
    method: r.method,
    path: r.path,
    headers: { authorization: `Bearer ${r.token}`, ...(r.body === undefined ? {} : { "content-type": "application/json" }) },
    body: r.body,
  })),
});
process.stdout.write(JSON.stringify(result));
