// A CPU profile of the Worker's isolate under `wrangler dev`, taken through its inspector (the DevTools protocol on
// wrangler's --inspector-port), and a summary of where the samples went.
//
// Under `wrangler dev --local` one workerd thread runs the Worker, the cube objects, the rate limiters and the queue
// consumer, all in one isolate: the profile sees every JavaScript frame of a request, ours and the platform's. The
// samples are attributed to source modules through the bundle's `// src/…` markers (esbuild writes one before each
// module), read from the bundle the inspector reports. Each sample's weight is capped at `CAP_US`: on a shared
// machine a sample that lasted longer mostly measured the thread being preempted by other processes, not our code.

/** Sampling interval asked of V8 (µs). */
export const INTERVAL_US = 200;
/** Weight cap of one sample (µs): a longer gap between samples is preemption, not work. */
const CAP_US = 1000;
/** Frames V8 reports for time that is not JavaScript. */
const NOT_JS = new Set(["(idle)", "(program)", "(garbage collector)", "(root)"]);

/**
 * @typedef {{ functionName: string, url: string, lineNumber: number, columnNumber: number, scriptId: string }} CallFrame
 * @typedef {{ id: number, callFrame: CallFrame, children?: number[] }} ProfileNode
 * @typedef {{ nodes: ProfileNode[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} CpuProfile
 */

/** A DevTools protocol session over WebSocket (Node 22's global WebSocket). */
class Inspector {
  /** @param {string} url */
  static async connect(url) {
    // wrangler's inspector proxy wants an Origin it knows (localhost is one).
    const ws = new WebSocket(url, /** @type {any} */ ({ headers: { Origin: "http://localhost" } }));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot open the inspector at ${url}`));
    });
    return new Inspector(ws);
  }
  /** @param {WebSocket} ws */
  constructor(ws) {
    this.ws = ws;
    this.nextId = 0;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.pending = new Map();
    /** @type {Map<string, string>} scriptId → url */
    this.scripts = new Map();
    ws.onmessage = (event) => {
      const msg = JSON.parse(String(event.data));
      if (msg.id !== undefined) {
        const waiter = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) waiter?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else waiter?.resolve(msg.result);
      } else if (msg.method === "Debugger.scriptParsed") {
        this.scripts.set(msg.params.scriptId, msg.params.url);
      }
    };
  }
  /** @param {string} method @param {Record<string, unknown>} [params] @returns {Promise<any>} */
  send(method, params = {}) {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
  close() {
    this.ws.close();
  }
}

/**
 * Connects to wrangler's inspector and starts sampling.
 * @param {number} inspectorPort
 * @returns {Promise<{ stop: () => Promise<{ profile: CpuProfile, summary: ReturnType<typeof summarize> }> }>}
 */
export async function startProfile(inspectorPort) {
  const inspector = await Inspector.connect(`ws://127.0.0.1:${inspectorPort}/ws`);
  await inspector.send("Debugger.enable");
  await inspector.send("Profiler.enable");
  await inspector.send("Profiler.setSamplingInterval", { interval: INTERVAL_US });
  await inspector.send("Profiler.start");
  return {
    async stop() {
      const { profile } = await inspector.send("Profiler.stop");
      /** @type {Map<string, string>} scriptId → source, for the bundles the samples name */
      const sources = new Map();
      for (const node of /** @type {CpuProfile} */ (profile).nodes) {
        const { scriptId, url } = node.callFrame;
        // The profile names the bundle by its file name only; the script's full URL came with Debugger.scriptParsed.
        const full = inspector.scripts.get(scriptId) ?? url;
        if (sources.has(scriptId) || !/\/\.wrangler\/tmp\/.*\.js$/.test(full)) continue;
        sources.set(scriptId, (await inspector.send("Debugger.getScriptSource", { scriptId })).scriptSource);
      }
      await inspector.send("Debugger.disable").catch(() => {});
      inspector.close();
      const summary = summarize(profile, sources);
      // Each frame of the saved profile names its source module, so it can be read again without the bundle.
      const maps = new Map([...sources].map(([id, src]) => [id, moduleMap(src)]));
      for (const node of /** @type {CpuProfile} */ (profile).nodes) {
        const map = maps.get(node.callFrame.scriptId);
        if (map) node.callFrame.url = map(node.callFrame.lineNumber);
      }
      return { profile, summary };
    },
  };
}

/**
 * Line → module of a bundle, from esbuild's `// path` marker lines.
 * @param {string} source
 * @returns {(line: number) => string}
 */
function moduleMap(source) {
  /** @type {number[]} */
  const lines = [];
  /** @type {string[]} */
  const names = [];
  const text = source.split("\n");
  for (let i = 0; i < text.length; i++) {
    const m = /^\/\/ ((?:src|durable-objects|node_modules)\/\S+)$/.exec(text[i]);
    if (!m) continue;
    lines.push(i);
    // node_modules/hono/dist/… → hono; node_modules/@hono/zod-openapi/… → @hono/zod-openapi
    const parts = m[1].split("/");
    names.push(parts[0] === "node_modules" ? (parts[1].startsWith("@") ? `${parts[1]}/${parts[2]}` : parts[1]) : m[1]);
  }
  return (line) => {
    let lo = 0;
    let hi = lines.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (lines[mid] <= line) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? "(bundle prelude)" : names[found];
  };
}

/**
 * Where the samples went: busy time (all but idle), self time by module and by function, and inclusive time by
 * function (a sample counts once for each distinct function on its stack). Milliseconds of capped sample weight.
 * @param {CpuProfile} profile
 * @param {Map<string, string>} sources
 * @param {number} [top]
 */
export function summarize(profile, sources, top = 80) {
  /** @type {Map<string, (line: number) => string>} */
  const maps = new Map([...sources].map(([id, src]) => [id, moduleMap(src)]));
  /** @type {Map<number, ProfileNode>} */
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** @param {CallFrame} f */
  const moduleOf = (f) => {
    const map = maps.get(f.scriptId);
    if (map) return map(f.lineNumber);
    if (NOT_JS.has(f.functionName)) return f.functionName;
    return f.url ? f.url.replace(/^file:\/\/.*\/node_modules\//, "") : "(native)";
  };
  /** @param {CallFrame} f */
  const label = (f) => `${f.functionName || "(anonymous)"} ${moduleOf(f)}:${f.lineNumber + 1}`;

  /** @type {Map<string, number>} */ const selfByModule = new Map();
  /** @type {Map<string, number>} */ const selfByFunction = new Map();
  /** @type {Map<string, number>} */ const inclusive = new Map();
  /** @type {Map<string, number>} */ const inclusiveModule = new Map();
  const add = (/** @type {Map<string, number>} */ m, /** @type {string} */ k, /** @type {number} */ v) => m.set(k, (m.get(k) ?? 0) + v);
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const weight = Math.min(profile.timeDeltas[i + 1] ?? INTERVAL_US, CAP_US) / 1000;
    const leaf = byId.get(profile.samples[i]);
    if (!leaf) continue;
    if (leaf.callFrame.functionName === "(idle)") {
      idle += weight;
      continue;
    }
    busy += weight;
    add(selfByModule, moduleOf(leaf.callFrame), weight);
    add(selfByFunction, label(leaf.callFrame), weight);
    /** @type {Set<string>} */ const seen = new Set();
    /** @type {Set<string>} */ const seenModules = new Set();
    for (let id = /** @type {number | undefined} */ (leaf.id); id !== undefined; id = parent.get(id)) {
      const f = /** @type {ProfileNode} */ (byId.get(id)).callFrame;
      if (f.functionName === "(root)") continue;
      const l = label(f);
      if (!seen.has(l)) {
        seen.add(l);
        add(inclusive, l, weight);
      }
      const m = moduleOf(f);
      if (!seenModules.has(m)) {
        seenModules.add(m);
        add(inclusiveModule, m, weight);
      }
    }
  }
  const table = (/** @type {Map<string, number>} */ m) =>
    Object.fromEntries(
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([k, v]) => [k, { ms: Math.round(v * 10) / 10, pct_busy: Math.round((1000 * v) / Math.max(busy, 1e-9)) / 10 }]),
    );
  return {
    interval_us: INTERVAL_US,
    sample_cap_us: CAP_US,
    busy_ms: Math.round(busy),
    idle_ms: Math.round(idle),
    self_by_module: table(selfByModule),
    inclusive_by_module: table(inclusiveModule),
    self_by_function: table(selfByFunction),
    inclusive_by_function: table(inclusive),
  };
}
