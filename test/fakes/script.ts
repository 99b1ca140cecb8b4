/**
 * What a fake push provider answers, per device token: the answers given are used once each,
 * in order, and the last one stays for every later request (so `set(t, 503, 201)` fails once,
 * then accepts; `set(t, 410)` always refuses).
 */
export class Script<A> {
  private readonly queues = new Map<string, A[]>();
  private fallbackQueue: A[] = [];

  constructor(private readonly fallback: A) {}

  set(key: string, ...answers: A[]) {
    this.queues.set(key, answers);
  }

  /** The same for every token without its own script (e.g. "the provider is down"). */
  setAll(...answers: A[]) {
    this.fallbackQueue = answers;
  }

  next(key: string): A {
    const q = this.queues.get(key)?.length ? this.queues.get(key)! : this.fallbackQueue;
    if (!q.length) return this.fallback;
    return q.length > 1 ? q.shift()! : q[0]!;
  }
}

/** Poll until `cond` returns a value; bounded. */
export async function until<T>(cond: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = cond();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(10);
  }
}
