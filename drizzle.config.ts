import { defineConfig } from "drizzle-kit";

// `npm run db:generate -- --name <what_changed>` writes the next migration; wrangler and the tests read the same folder.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
