/**
 * Deterministic chat-like text for seeding: a seeded PRNG and a vocabulary whose words are drawn
 * with a Zipf–Mandelbrot law (a few words are everywhere, most are rare), so full-text search
 * has both very common and very rare terms to look for, as in a real message store.
 */

/** mulberry32: small, fast, good enough for benchmark data; the same seed gives the same data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Common chat words, roughly most frequent first. */
const COMMON = `the i to you a and it is that we for in of on this be have can so just do not are with at my me will
but what if was get know think no yes ok about all there your like up go out time today now one how when then good they
need see from he she an as or by would could should let make did got going want tomorrow meeting thanks sure yeah back
call work right new here also some still later week more well really great please send check sorry day morning night
people look take done next file after before because maybe why where which who them their our us any been had has were
into over only very much lunch team project update review deploy release server issue fix bug test build plan idea doc
link home office email phone weekend monday friday coffee dinner trip flight hotel report budget client design draft
notes agenda schedule deadline question answer problem change version branch merge ticket sprint demo slides invoice
contract photo video music movie game birthday party train bus car traffic weather rain sun happy tired busy late early
soon again first last long little big small old few many most other same different every thing things nothing something
everything feel hope try ask tell said say give find use help start stop wait leave come came keep put bring meet read
write run move pay buy open close share`
  .split(/\s+/)
  .filter(Boolean);

const ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou"];
const CODAS = ["", "", "", "n", "r", "l", "s", "t", "x", "nd", "rk", "st"];

export interface Vocabulary {
  words: string[];
  /** Cumulative weights, for drawing word i with probability ∝ 1 / (i + 1 + Q). */
  cumulative: Float64Array;
}

/** The common words followed by `tail` invented words (names, jargon, typos: the long tail). */
export function vocabulary(tail: number, seed = 7): Vocabulary {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const seen = new Set(COMMON);
  const words = [...COMMON];
  while (words.length < COMMON.length + tail) {
    const syllables = 2 + Math.floor(rnd() * 3);
    let w = "";
    for (let s = 0; s < syllables; s++) w += pick(ONSETS) + pick(VOWELS) + (s === syllables - 1 ? pick(CODAS) : "");
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  const Q = 2.7;
  const cumulative = new Float64Array(words.length);
  let sum = 0;
  for (let i = 0; i < words.length; i++) cumulative[i] = sum += 1 / (i + 1 + Q);
  return { words, cumulative };
}

export function drawWord(v: Vocabulary, rnd: () => number): string {
  const x = rnd() * v.cumulative[v.cumulative.length - 1]!;
  let lo = 0;
  let hi = v.cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (v.cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return v.words[lo]!;
}

/** One message: 1–40 words (median ~8), capitalised, sometimes with closing punctuation. */
export function sentence(v: Vocabulary, rnd: () => number): string {
  // Log-normal length: most messages are short, a few are long.
  const g = Math.sqrt(-2 * Math.log(rnd() || 1e-9)) * Math.cos(2 * Math.PI * rnd());
  const n = Math.max(1, Math.min(40, Math.round(Math.exp(2.1 + 0.6 * g))));
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(drawWord(v, rnd));
  out[0] = out[0]!.charAt(0).toUpperCase() + out[0]!.slice(1);
  const r = rnd();
  return out.join(" ") + (r < 0.15 ? "?" : r < 0.25 ? "!" : r < 0.4 ? "." : "");
}
