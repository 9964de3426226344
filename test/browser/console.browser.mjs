// The console and /docs as a person uses them, in Chromium. Each test gets a fresh browser context (so a fresh
// sessionStorage) and seeds what it needs through the API. Screenshots go to docs/screenshots/ for the README.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";

const SHOTS = "docs/screenshots";

async function call(origin, key, method, path, body) {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** A new tenant with an admin key, and memories about one user. */
async function seed(origin, rootKey) {
  const tenant = await call(origin, rootKey, "POST", "/v1/admin/tenants", { name: `acme-${randomUUID().slice(0, 8)}` });
  assert.equal(tenant.status, 201);
  const key = await call(origin, rootKey, "POST", `/v1/admin/tenants/${tenant.body.id}/keys`, { name: "console", scopes: ["read", "write", "admin"] });
  assert.equal(key.status, 201);
  const user = `alice-${randomUUID().slice(0, 6)}`;
  const written = await call(origin, key.body.key, "POST", "/v1/memories", {
    user_id: user,
    memories: [
      { content: "Alice drinks her coffee black, no sugar", type: "preference", tags: ["coffee", "food"] },
      { content: "Alice moved to Lisbon in March 2026", type: "event", tags: ["travel"] },
      { content: "Alice works as a marine biologist", type: "fact", tags: ["work"] },
      { content: "Always answer Alice in Portuguese when she writes in Portuguese", type: "instruction" },
    ],
  });
  assert.equal(written.status, 201, JSON.stringify(written.body));
  return { tenantId: tenant.body.id, key: key.body.key, user, cubeId: written.body.cube_id, memories: written.body.data };
}

async function signIn(page, origin, key) {
  await page.goto(`${origin}/console/`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Console" }).waitFor();
}

/** Signs in and opens the seeded cube from the Cubes page, as a person would. */
async function openCube(page, origin, data) {
  await signIn(page, origin, data.key);
  await page.getByRole("button", { name: new RegExp(`^Open cube .* of user:${data.user}$`) }).click();
  await page.getByRole("heading", { name: "Memories" }).waitFor();
}

export const tests = [
  {
    name: "signs in with the root key, creates a tenant and mints its first key; refuses a wrong key",
    async run({ page, origin, rootKey }) {
      await page.goto(`${origin}/console/`);
      await page.getByLabel("API key").fill("mos_not_a_real_key_0000000000");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").getByText("that key is not valid").waitFor();

      await page.getByLabel("API key").fill(rootKey);
      await page.getByRole("button", { name: "Sign in" }).click();
      const name = `globex-${randomUUID().slice(0, 6)}`;
      await page.getByLabel("New tenant name").fill(name);
      await page.getByRole("button", { name: "Create tenant" }).click();
      await page.getByRole("heading", { name: `Tenant ${name}` }).waitFor();
      await page.getByLabel("admin").check();
      await page.getByLabel("write").check();
      await page.getByLabel("Name", { exact: true }).fill("first key");
      await page.getByRole("button", { name: "Mint key" }).click();
      const secret = await page.getByLabel("New key secret").inputValue();
      assert.match(secret, /^mos_/);
      await page.getByRole("cell", { name: /^first key mos_/ }).waitFor();
      // The key is held in sessionStorage only: no cookie, nothing in the URL.
      assert.deepEqual(await page.context().cookies(), []);
      assert.ok(!page.url().includes(rootKey));
      await page.screenshot({ path: `${SHOTS}/tenants.png`, fullPage: true });

      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByLabel("API key").fill(secret);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Owners and cubes" }).waitFor();
      assert.equal(await page.evaluate(() => document.cookie), "");
    },
  },
  {
    name: "browses owners, cubes and memories, filters by type and tag",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await signIn(page, origin, data.key);
      await page.getByRole("heading", { name: `user:${data.user}` }).waitFor();
      await page.screenshot({ path: `${SHOTS}/cubes.png`, fullPage: true });
      await page.getByRole("button", { name: new RegExp(`^Open cube .* of user:${data.user}$`) }).click();
      const items = page.locator("ul.memories > li");
      await page.getByText("Alice works as a marine biologist").waitFor();
      assert.equal(await items.count(), 4);
      await page.screenshot({ path: `${SHOTS}/memories.png`, fullPage: true });

      await page.getByLabel("Type").selectOption("preference");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.waitForFunction(() => document.querySelectorAll("ul.memories > li").length === 1);
      assert.match(await items.first().innerText(), /coffee black/);
      assert.match(page.url(), /type=preference/);

      await page.getByLabel("Type").selectOption("");
      await page.getByLabel("Tags").fill("travel");
      await page.getByRole("button", { name: "Filter" }).click();
      await items.filter({ hasText: "Lisbon" }).waitFor();
      assert.equal(await items.count(), 1);
    },
  },
  {
    name: "works from the keyboard alone: sign in, move between views, open a memory",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await page.goto(`${origin}/console/`);
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("name")), "key");
      await page.keyboard.type(data.key);
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Owners and cubes" }).waitFor();
      // Tab to the cube's Open button and press it; then follow a memory link with Enter.
      const open = page.getByRole("button", { name: /^Open cube / });
      for (let i = 0; i < 40 && !(await open.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { name: "Memories" }).waitFor();
      const link = page.getByRole("link", { name: "Alice works as a marine biologist" });
      for (let i = 0; i < 60 && !(await link.evaluate((el) => el === document.activeElement)); i++) await page.keyboard.press("Tab");
      // The focused element shows a focus ring.
      assert.notEqual(await link.evaluate((el) => getComputedStyle(el).outlineStyle), "none");
      await page.keyboard.press("Enter");
      await page.getByTestId("memory-content").getByText("marine biologist").waitFor();
    },
  },
  {
    name: "is usable at phone width",
    viewport: { width: 390, height: 844 },
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await openCube(page, origin, data);
      await page.getByText("Alice moved to Lisbon").waitFor();
      // Nothing wider than the screen: no horizontal scrolling.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
      await page.screenshot({ path: `${SHOTS}/phone.png` });
    },
  },
  {
    name: "searches and reads each hit's channel breakdown, score, context tokens and timing",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await openCube(page, origin, data);
      await page.getByRole("link", { name: "Search" }).click();
      await page.getByLabel("Query").fill("how does Alice take her coffee");
      await page.getByRole("button", { name: "Search", exact: true }).click();
      const summary = page.getByTestId("search-summary");
      await summary.waitFor();
      assert.match(await summary.innerText(), /^\d+ hits · \d+ context tokens · [\d.]+ ms$/);
      const first = page.locator("ol.hits > li").first();
      assert.match(await first.innerText(), /coffee black/);
      // Each channel that found it, with its rank there and its share of the fused score: first for the words.
      const channels = await first.getByRole("list", { name: /channels/ }).locator("li").allInnerTexts();
      assert.ok(channels.length >= 2, `channels: ${channels}`);
      for (const channel of channels) assert.match(channel, /^(lexical|vector|tag|recent|working) #\d+ \+0\.\d{3}$/);
      assert.ok(channels.some((c) => c.startsWith("lexical #1 ")), `channels: ${channels}`);
      assert.match(await first.locator(".scores").innerText(), /score\s+\d\.\d{3}/);
      await page.screenshot({ path: `${SHOTS}/search.png`, fullPage: true });

      // Only the lexical channel: every hit was found by it.
      for (const channel of ["vector", "tag", "recent", "working"]) await page.getByLabel(channel, { exact: true }).uncheck();
      await page.getByRole("button", { name: "Search", exact: true }).click();
      await page.waitForFunction(() => [...document.querySelectorAll("li.channel")].every((li) => li.textContent.startsWith("lexical #")));
    },
  },
  {
    name: "edits a memory, reads the history and its diff, and rolls back",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      // The provenance answer is held until the edit is typed, so the page re-renders under the user's text: the
      // textarea must keep it (a controlled one reset it, and the save wrote the old content as v2).
      let release = () => {};
      const typed = new Promise((resolve) => (release = resolve));
      await page.route((url) => url.pathname.endsWith("/provenance"), async (route) => {
        await typed;
        await route.continue();
      });
      await openCube(page, origin, data);
      await page.getByRole("link", { name: "Alice works as a marine biologist" }).click();
      await page.getByTestId("memory-content").getByText("marine biologist").waitFor();
      await page.getByLabel("Content").fill("Alice works as a deep-sea marine biologist at the aquarium");
      release();
      await page.getByText("verified", { exact: true }).waitFor();
      await page.getByRole("button", { name: "Save new version" }).click();
      await page.getByTestId("memory-content").getByText("deep-sea").waitFor();
      await page.getByRole("cell", { name: "v2", exact: true }).waitFor();
      const diff = page.getByTestId("diff");
      assert.equal(await diff.locator("ins").first().innerText(), "deep-sea ");
      assert.match(await diff.locator("ins").allInnerTexts().then((t) => t.join("")), /at the aquarium/);
      await page.screenshot({ path: `${SHOTS}/memory-history.png`, fullPage: true });

      await page.getByRole("button", { name: "Roll back to version 1" }).click();
      await page.getByRole("cell", { name: "v3", exact: true }).waitFor();
      assert.equal(await page.getByTestId("memory-content").innerText(), "Alice works as a marine biologist");
      await page.getByRole("cell", { name: "rolled_back", exact: true }).waitFor();
      // Provenance: written through the API by this tenant's key, watermark checked.
      await page.getByText("verified", { exact: true }).waitFor();
    },
  },
  {
    name: "pins, freezes, travels back in time and forgets a memory",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      const before = new Date(Date.now() - 60_000);
      await openCube(page, origin, data);
      await page.getByRole("link", { name: "Alice moved to Lisbon in March 2026" }).click();
      const facts = page.locator(".meta").first();
      await page.getByRole("button", { name: "Pin", exact: true }).click();
      await facts.getByText("pinned").waitFor();
      await page.getByRole("link", { name: "Context" }).click();
      await page.locator("ol.memories > li").filter({ hasText: "Lisbon" }).getByText("pinned").waitFor();
      await page.goBack();
      await page.getByRole("button", { name: "Freeze" }).click();
      await facts.getByText("frozen").waitFor();
      assert.ok(await page.getByRole("button", { name: "Save new version" }).isDisabled());
      await page.getByRole("button", { name: "Unfreeze" }).click();
      await page.getByRole("button", { name: "Save new version" }).waitFor({ state: "visible" });

      // A minute before it was written the memory did not exist yet; as_of says so.
      const local = new Date(before.getTime() - before.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await page.getByLabel("As of").fill(local);
      await page.getByRole("button", { name: "Travel" }).click();
      await page.getByRole("alert").waitFor();
      assert.match(page.url(), /as_of=/);
      await page.getByRole("link", { name: "Back to now" }).click();

      page.once("dialog", (dialog) => void dialog.accept());
      await page.getByRole("button", { name: "Forget" }).click();
      await page.getByRole("heading", { name: "Memories" }).waitFor();
      await page.getByText("Alice works as a marine biologist").waitFor();
      assert.equal(await page.getByText("Alice moved to Lisbon").count(), 0);
      const gone = await call(origin, data.key, "GET", `/v1/memories?cube_id=${data.cubeId}&state=forgotten`);
      assert.deepEqual(gone.body.data.map((m) => m.content), ["Alice moved to Lisbon in March 2026"]);
    },
  },
  {
    name: "ingests a conversation and watches the job finish",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await openCube(page, origin, data);
      await page.getByRole("link", { name: "Ingest & jobs" }).click();
      await page
        .getByRole("textbox", { name: "Conversation" })
        .fill("user: I just adopted a cat named Miso.\nassistant: Congratulations! How old is Miso?\nuser: She is two years old and loves tuna.");
      await page.getByRole("button", { name: "Ingest" }).click();
      const job = page.getByTestId("job").first();
      await job.locator(".status-done").waitFor({ timeout: 30_000 });
      assert.match(await job.innerText(), /ingest/);
      await job.getByRole("link").first().waitFor();
      await page.screenshot({ path: `${SHOTS}/ingest.png`, fullPage: true });
    },
  },
  {
    name: "mints a scoped key that works, then revokes it",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await signIn(page, origin, data.key);
      await page.getByRole("link", { name: "Keys" }).click();
      await page.getByLabel("Name", { exact: true }).fill("read-only alice");
      await page.getByLabel("Only these owners").fill(`user:${data.user}`);
      await page.getByRole("button", { name: "Mint key" }).click();
      const secret = await page.getByLabel("New key secret").inputValue();
      await page.getByRole("cell", { name: /^read-only alice mos_/ }).waitFor();
      await page.screenshot({ path: `${SHOTS}/keys.png`, fullPage: true });

      const read = await call(origin, secret, "GET", `/v1/memories?user_id=${data.user}`);
      assert.equal(read.status, 200);
      const write = await call(origin, secret, "POST", "/v1/memories", { user_id: data.user, memories: [{ content: "nope" }] });
      assert.equal(write.status, 403);

      await page.getByRole("button", { name: "Revoke key read-only alice" }).click();
      await page.locator("tr.revoked").getByText("read-only alice").waitFor();
      assert.equal((await call(origin, secret, "GET", `/v1/memories?user_id=${data.user}`)).status, 401);
    },
  },
  {
    name: "shows stats charts, the context preview and the audit log",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      await openCube(page, origin, data);
      await page.getByRole("link", { name: "Stats" }).click();
      const byState = page.getByRole("img", { name: /^Memories by state:/ });
      await byState.waitFor();
      assert.match(await byState.getAttribute("aria-label"), /activated 4|generated 4/);
      await page.getByRole("img", { name: /^Memories by type/ }).waitFor();
      await page.screenshot({ path: `${SHOTS}/stats.png`, fullPage: true });

      await page.getByRole("link", { name: "Context" }).click();
      await page.getByLabel("Query").fill("what should I know about Alice");
      await page.getByRole("button", { name: "Preview" }).click();
      await page.locator(".context-text").getByText("Portuguese").waitFor();

      // Audit entries travel on the bookkeeping queue (batches leave every second, docs/hot-path.md): a page loaded
      // before the seed's entries landed says "No entries", and Filter asks again, as a person would.
      await page.getByRole("link", { name: "Audit" }).click();
      const written = page.getByRole("cell", { name: "memory.write" }).first();
      for (let tries = 0; !(await written.isVisible()); tries++) {
        assert.ok(tries < 15, "no memory.write entry in the audit log after 15 refreshes");
        await page.waitForTimeout(1000);
        await page.getByRole("button", { name: "Filter" }).click();
      }
    },
  },
  {
    name: "grants a cube to another owner; subscribes a webhook, sees its delivery and replays it",
    async run({ page, origin, rootKey }) {
      const data = await seed(origin, rootKey);
      const received = [];
      const receiver = createServer((request, response) => {
        request.resume();
        request.on("end", () => {
          received.push(request.headers["x-memos-event"] ?? request.url);
          response.end("ok");
        });
      });
      await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      try {
        await openCube(page, origin, data);
        await page.getByRole("link", { name: "Grants" }).click();
        await page.getByLabel("Principal").fill("agent:helper");
        await page.getByLabel("Permission").selectOption("read");
        await page.getByRole("button", { name: "Grant" }).click();
        await page.getByText("agent:helper").waitFor();

        await page.getByRole("link", { name: "Webhooks" }).click();
        await page.getByLabel("URL").fill(`http://127.0.0.1:${receiver.address().port}/hook`);
        await page.getByLabel("memory.created").check();
        await page.getByRole("button", { name: "Subscribe" }).click();
        await page.getByRole("status").getByText("Signing secret").waitFor();
        await call(origin, data.key, "POST", "/v1/memories", { user_id: data.user, memories: [{ content: "Alice adopted a cat" }] });
        await page.getByRole("button", { name: "Deliveries" }).click();
        const delivered = page.locator(".deliveries li").filter({ hasText: "delivered" });
        for (let i = 0; i < 30 && (await delivered.count()) === 0; i++) {
          await page.waitForTimeout(500);
          await page.getByRole("button", { name: "Refresh deliveries" }).click();
        }
        await delivered.first().waitFor();
        const before = received.length;
        await page.getByRole("button", { name: "Replay memory.created delivery" }).click();
        for (let i = 0; i < 30 && received.length === before; i++) await page.waitForTimeout(300);
        assert.ok(received.length > before, "the replay reached the receiver");
        await page.screenshot({ path: `${SHOTS}/webhooks.png`, fullPage: true });
      } finally {
        receiver.close();
      }
    },
  },
  {
    name: "renders the API reference at /docs offline, from bundled files",
    async run({ page, origin }) {
      const remote = [];
      page.on("request", (request) => !request.url().startsWith(origin) && !request.url().startsWith("data:") && remote.push(request.url()));
      await page.goto(`${origin}/docs`);
      // Swagger UI parses a 1.4 MB bundle and the whole document: slow on a loaded CI machine.
      await page.getByRole("heading", { name: /MemOS Edge/ }).first().waitFor({ timeout: 45_000 });
      await page.getByText("/v1/search").first().waitFor();
      assert.deepEqual(remote, []);
      await page.screenshot({ path: `${SHOTS}/docs.png` });
    },
  },
];
