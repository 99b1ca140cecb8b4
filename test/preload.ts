// Preloaded by bun test (bunfig.toml). Tests talk only to servers on 127.0.0.1 that they start
// themselves; this refuses any other destination so a test can never reach the internet.
const realFetch = globalThis.fetch;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

globalThis.fetch = Object.assign(
  (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    if (!LOOPBACK.test(url.hostname)) return Promise.reject(new Error(`tests may only reach loopback, not ${url.host}`));
    return realFetch(input, init);
  },
  realFetch,
);
