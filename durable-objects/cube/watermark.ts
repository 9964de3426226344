/**
 * Memory watermarks: the server's signature that a key wrote a memory's content at a version. HMAC-SHA256 under a
 * key derived from ROOT_KEY (HKDF-SHA256, its own purpose), over the memory id, the version, the writing key's id
 * and the SHA-256 of the content — so a changed text, a memory moved to another id, or a version claimed by another
 * key no longer verifies. It proves "this deployment recorded that key K wrote this text as version n of memory M";
 * it is not a signature a third party can check without the server (that would need per-key asymmetric keys).
 *
 * Written in the same transaction as the version (cube/store.ts), so it must be synchronous: node:crypto's HMAC and
 * HKDF (nodejs_compat) instead of WebCrypto's promises. Changing ROOT_KEY makes every earlier watermark read as
 * unverified, never as valid.
 *
 * Wire form: `wm1.<version>.<key id>.<base64url mac>`.
 */
import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";

const FORMAT = "wm1";
const SALT = "memos-edge watermark v1";
const INFO = "memos-edge memory watermark";

/** A watermark taken apart; null when the text is not one. */
export interface ParsedWatermark {
  version: number;
  keyId: string;
  mac: string;
}

export function parseWatermark(watermark: string): ParsedWatermark | null {
  const parts = watermark.split(".");
  if (parts.length < 4 || parts[0] !== FORMAT) return null;
  const version = Number(parts[1]);
  const keyId = parts.slice(2, -1).join(".");
  const mac = parts.at(-1)!;
  if (!Number.isInteger(version) || version < 1 || keyId === "" || !/^[A-Za-z0-9_-]{43}$/.test(mac)) return null;
  return { version, keyId, mac };
}

export class Watermarker {
  private constructor(private readonly key: Uint8Array) {}

  /** Null without a root key: memories are then written unsigned (`watermark: null`). */
  static fromRootKey(rootKey: string | undefined): Watermarker | null {
    if (!rootKey) return null;
    return new Watermarker(new Uint8Array(hkdfSync("sha256", rootKey, SALT, INFO, 32)));
  }

  /** The watermark of `content` written by `keyId` as `version` of memory `memoryId`. */
  sign(memoryId: string, version: number, keyId: string, content: string): string {
    return `${FORMAT}.${version}.${keyId}.${this.mac(memoryId, version, keyId, content)}`;
  }

  /** Whether `watermark` is this server's for `content` at the version and key it names (constant-time compare). */
  verify(watermark: ParsedWatermark, memoryId: string, content: string): boolean {
    const expected = Buffer.from(this.mac(memoryId, watermark.version, watermark.keyId, content));
    const given = Buffer.from(watermark.mac);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  private mac(memoryId: string, version: number, keyId: string, content: string): string {
    const digest = createHash("sha256").update(content, "utf8").digest("hex");
    return createHmac("sha256", this.key).update(`memos-watermark/1\n${memoryId}\n${version}\n${keyId}\n${digest}`).digest("base64url");
  }
}
