/**
 * Which URLs the service may POST webhooks to. Outside local mode: `https` only, and never a host that names the
 * service's own network — private, loopback, link-local, unique-local, shared (CGNAT), multicast and reserved IP
 * literals (IPv4 in any spelling the URL parser accepts, IPv6 including IPv4-mapped forms), `localhost`, `*.local`,
 * `*.internal`. In local mode (`ENVIRONMENT=local`) `http` and local hosts are allowed, so people can test against
 * a receiver on their own machine.
 *
 * Known limit: a DNS name is checked as a name. A public name that resolves to a private address cannot be caught
 * here (a Worker cannot resolve names before it fetches). On Cloudflare the requests leave from Cloudflare's network;
 * a self-hosted runtime should filter its egress at the network layer too. Redirects are never followed (see
 * webhook-delivery.ts), so a public endpoint cannot bounce a delivery inward.
 */
import { WEBHOOK_URL_MAX_CHARS } from "../schemas/webhooks";

export type UrlVerdict = { ok: true; url: string } | { ok: false; reason: string };

export interface UrlPolicy {
  /** Local mode: http and local hosts allowed. */
  local: boolean;
}

/** The policy of a deployment: local mode only when ENVIRONMENT says `local` (unset counts as production). */
export const urlPolicyFor = (environment: string | undefined): UrlPolicy => ({ local: environment === "local" });

const LOCAL_NAMES = [/^localhost$/, /\.localhost$/, /\.local$/, /\.internal$/];

/** Checks `raw` against the policy; on success `url` is its normalised form (what is stored and fetched). */
export function checkWebhookUrl(raw: string, policy: UrlPolicy): UrlVerdict {
  if (raw.length > WEBHOOK_URL_MAX_CHARS) return refuse(`must be at most ${WEBHOOK_URL_MAX_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse("is not an absolute URL");
  }
  if (url.protocol !== "https:" && !(policy.local && url.protocol === "http:")) {
    return refuse(policy.local ? "must use http or https" : "must use https");
  }
  if (url.username || url.password) return refuse("must not carry credentials (user:password@); authenticate deliveries by their signature");
  if (url.hash) return refuse("must not have a #fragment (it is never sent)");
  if (!policy.local) {
    const host = url.hostname.toLowerCase().replace(/\.$/, "");
    if (host === "") return refuse("has no host");
    if (LOCAL_NAMES.some((pattern) => pattern.test(host))) return refuse(`host ${host} is a local name`);
    const blocked = host.startsWith("[") ? blockedIpv6(host.slice(1, -1)) : blockedIpv4Text(host);
    if (blocked) return refuse(`host ${host} is ${blocked}`);
  }
  return { ok: true, url: url.href };
}

const refuse = (reason: string): UrlVerdict => ({ ok: false, reason: `url ${reason}` });

/** IPv4 ranges no webhook may target: [network address, prefix length, what it is]. */
const IPV4_BLOCKED: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "a 'this network' address"],
  ["10.0.0.0", 8, "a private address"],
  ["100.64.0.0", 10, "a shared (carrier-grade NAT) address"],
  ["127.0.0.0", 8, "a loopback address"],
  ["169.254.0.0", 16, "a link-local address"],
  ["172.16.0.0", 12, "a private address"],
  ["192.0.0.0", 24, "a reserved address"],
  ["192.0.2.0", 24, "a documentation address"],
  ["192.168.0.0", 16, "a private address"],
  ["198.18.0.0", 15, "a benchmarking address"],
  ["198.51.100.0", 24, "a documentation address"],
  ["203.0.113.0", 24, "a documentation address"],
  ["224.0.0.0", 4, "a multicast address"],
  ["240.0.0.0", 4, "a reserved address"],
];

/**
 * Why an IPv4 literal is refused, or null when `host` is not one or is public. The WHATWG URL parser has already
 * turned every IPv4 spelling (`0x7f.1`, `2130706433`, `0177.0.0.1`) into dotted decimal.
 */
function blockedIpv4Text(host: string): string | null {
  const value = ipv4Value(host);
  return value === null ? null : blockedIpv4(value);
}

function ipv4Value(text: string): number | null {
  const match = text.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/);
  if (!match) return null;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return null;
  return octets.reduce((value, octet) => value * 256 + octet, 0);
}

function blockedIpv4(value: number): string | null {
  for (const [base, prefix, what] of IPV4_BLOCKED) {
    const size = 2 ** (32 - prefix);
    const start = ipv4Value(base)!;
    if (value >= start && value < start + size) return what;
  }
  return null;
}

/** Why an IPv6 literal (without brackets) is refused, or null when it is public. */
function blockedIpv6(text: string): string | null {
  const words = ipv6Words(text);
  if (!words) return "not a valid IPv6 address";
  const [w0, w1, w2, w3, w4, w5, w6, w7] = words as [number, number, number, number, number, number, number, number];
  const leadingZeros = (n: number) => words.slice(0, n).every((w) => w === 0);
  if (leadingZeros(8)) return "the unspecified address";
  if (leadingZeros(7) && w7 === 1) return "a loopback address";
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry an IPv4 address.
  const embedded = w6 * 65536 + w7;
  if (leadingZeros(5) && w5 === 0xffff) return blockedIpv4(embedded) ?? null;
  if (leadingZeros(6)) return blockedIpv4(embedded) ?? "a reserved address";
  if (w0 === 0x64 && w1 === 0xff9b && w2 === 0 && w3 === 0 && w4 === 0 && w5 === 0) return blockedIpv4(embedded);
  if ((w0 & 0xffc0) === 0xfe80) return "a link-local address";
  if ((w0 & 0xfe00) === 0xfc00) return "a unique-local address";
  if ((w0 & 0xffc0) === 0xfec0) return "a site-local address";
  if ((w0 & 0xff00) === 0xff00) return "a multicast address";
  if (w0 === 0x2001 && w1 === 0x0db8) return "a documentation address";
  return null;
}

/** The eight 16-bit words of an IPv6 address as the URL parser serialises it (compressed, hex, maybe a dotted tail). */
function ipv6Words(text: string): number[] | null {
  let tail: number[] = [];
  let body = text.toLowerCase();
  const dotted = body.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (dotted) {
    const value = ipv4Value(dotted[2]!);
    if (value === null) return null;
    tail = [Math.floor(value / 65536), value % 65536];
    body = dotted[1]!.endsWith("::") ? dotted[1]! : dotted[1]!.slice(0, -1);
  }
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((word) => (/^[0-9a-f]{1,4}$/.test(word) ? parseInt(word, 16) : NaN)));
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const words = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  return words.some((word) => Number.isNaN(word)) ? null : words;
}
