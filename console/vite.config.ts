// The console's bundle: Preact with the automatic JSX runtime (esbuild, no framework plugin), served under /console/.
import path from "node:path";
import { defineConfig } from "vite";

const here = import.meta.dirname;

export default defineConfig({
  root: here,
  base: "/console/",
  publicDir: false,
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: path.resolve(here, "..", "build", "assets", "console"),
    emptyOutDir: true,
    // One script and one stylesheet: the Content-Security-Policy allows only files from this origin, no inline code.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});
