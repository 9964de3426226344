/** Worker entry: the HTTP API, and the Durable Object classes the runtime needs to find here. */
import { createApp } from "./app";

export { CubeDurableObject } from "../durable-objects/cube";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
