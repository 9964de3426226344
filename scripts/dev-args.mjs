// `npm start`'s own arguments (scripts/dev.mjs), kept apart so a test can read them without starting anything.

/**
 * The port to serve on and the arguments to pass on to wrangler. `--port N` / `--port=N` is taken here rather than
 * passed on: the banner and the readiness check need it, and wrangler refuses a second `--port` next to the one
 * dev.mjs gives it. The argument wins over the `PORT` environment variable; 8787 when neither is given.
 * @param {string[]} argv @param {string | undefined} envPort
 * @returns {{ port: string, rest: string[] }}
 */
export function devArgs(argv, envPort) {
  let port = envPort ?? "8787";
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--port") {
      if (i + 1 >= argv.length) throw new Error("--port needs a value");
      port = argv[++i];
    } else if (argv[i].startsWith("--port=")) port = argv[i].slice("--port=".length);
    else rest.push(argv[i]);
  }
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw new Error(`not a port: ${port}`);
  return { port, rest };
}
