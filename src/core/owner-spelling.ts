/**
 * Owners stored before the Unicode rule (issue 16, D4): an owner id with a lone surrogate (`"eve\ud800"`) was stored
 * in D1 as WTF-8 bytes (`ED A0 80`), which read back as replacement characters, so no well-formed spelling in a URL
 * matches the row and `DELETE /v1/owners/{owner}` could not erase it. The `hex:` spelling names the stored bytes
 * exactly; decoded here back into the JavaScript string (lone surrogates and all) that D1 binds to those same bytes.
 */

/**
 * The owner string whose stored bytes are `hex` (the part after `hex:`), or null when they are not UTF-8 or WTF-8
 * (generalised UTF-8: surrogates allowed, nothing else ill-formed).
 */
export function ownerFromHex(hex: string): string | null {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) return null;
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i += 1) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  let text = "";
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    const length = lead < 0x80 ? 1 : lead >= 0xc2 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf5 ? 4 : 0;
    if (length === 0 || i + length > bytes.length) return null;
    let point = length === 1 ? lead : lead & (0xff >> (length + 1));
    for (let k = 1; k < length; k += 1) {
      const next = bytes[i + k]!;
      if ((next & 0xc0) !== 0x80) return null;
      point = (point << 6) | (next & 0x3f);
    }
    // Overlong forms and points past U+10FFFF are refused; surrogates (U+D800–DFFF) are what this spelling is for.
    if ((length === 3 && point < 0x800) || (length === 4 && (point < 0x10000 || point > 0x10ffff))) return null;
    text += String.fromCharCode(...(point > 0xffff ? [0xd800 + ((point - 0x10000) >> 10), 0xdc00 + ((point - 0x10000) & 0x3ff)] : [point]));
    i += length;
  }
  return text;
}
