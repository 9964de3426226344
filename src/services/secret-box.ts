/**
 * Secrets the service must read back in clear (an HMAC key cannot be checked against a hash), sealed at rest with
 * AES-256-GCM under a key derived from the operator's ROOT_KEY with HKDF-SHA256. Each purpose gets its own derived
 * key (the HKDF info), and the associated data binds a ciphertext to the row it belongs to.
 *
 * Changing ROOT_KEY makes every sealed secret unreadable: their owners must create new ones.
 */
import { ConfigError } from "../errors";

const FORMAT = "v1";
const IV_BYTES = 12;
/** A fixed salt: ROOT_KEY is already high-entropy (≥ 24 random characters), so HKDF only needs domain separation. */
const SALT = new TextEncoder().encode("memos-edge secret-box v1");

const utf8 = new TextEncoder();

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/**
 * Derived keys by root key and purpose: HKDF is cheap, but there is no reason to redo it on every request. The keys
 * are kept, not the promises of their derivation: workerd ties a promise to the request that settles it, so requests
 * that arrive before the first derivation ends each derive their own.
 */
const derived = new Map<string, CryptoKey>();

async function sealingKey(rootKey: string | undefined, purpose: string): Promise<CryptoKey> {
  if (!rootKey) throw new ConfigError("ROOT_KEY is not set; it is needed to seal and open stored secrets");
  const cacheKey = `${purpose}\n${rootKey}`;
  const known = derived.get(cacheKey);
  if (known) return known;
  const material = await crypto.subtle.importKey("raw", utf8.encode(rootKey), "HKDF", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info: utf8.encode(`memos-edge ${purpose}`) },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  if (derived.size > 8) derived.clear();
  derived.set(cacheKey, key);
  return key;
}

/** Encrypts `secret` for `purpose`, bound to `boundTo` (e.g. the owning tenant id): `v1.<iv>.<ciphertext>`. */
export async function sealSecret(rootKey: string | undefined, purpose: string, boundTo: string, secret: string): Promise<string> {
  const key = await sealingKey(rootKey, purpose);
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8.encode(boundTo) }, key, utf8.encode(secret));
  return `${FORMAT}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ciphertext))}`;
}

/**
 * The secret sealed by {@link sealSecret} with the same purpose and binding, or null when it cannot be opened
 * (another root key, another binding, a damaged value).
 */
export async function openSecret(rootKey: string | undefined, purpose: string, boundTo: string, sealed: string): Promise<string | null> {
  const key = await sealingKey(rootKey, purpose);
  const [format, iv, ciphertext] = sealed.split(".");
  if (format !== FORMAT || !iv || !ciphertext) return null;
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: utf8.encode(boundTo) },
      key,
      fromBase64Url(ciphertext),
    );
    return new TextDecoder().decode(plaintext);
  } catch {
    return null;
  }
}
