// The smoke flow with openapi-fetch, typed by the types openapi-typescript generated
// (`schema.d.ts`, made by the check before this runs): list the locks, issue a code, read it
// until `set`, delete it. `tsc --noEmit` checks it against the types first.
import createClient from "openapi-fetch";
import type { paths } from "./schema";

const [baseUrl, key] = process.argv.slice(2);
const client = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${key}` } });

const locks = await client.GET("/v1/locks", { params: { query: { limit: 200 } } });
if (!locks.data) throw new Error(`locks: ${JSON.stringify(locks.error)}`);
const lock = locks.data.data.find(
  (l) => l.provider === "ttlock" && l.online && l.capabilities.access_codes && l.code_rules.min_length <= 6,
);
if (!lock) throw new Error("no TTLock lock that holds codes");
console.log(`locks: ${locks.data.data.length}`);

const made = await client.POST("/v1/locks/{id}/access-codes", {
  params: { path: { id: lock.id } },
  body: { name: "Typed client", code: "528163" },
});
if (!made.data) throw new Error(`create: ${JSON.stringify(made.error)}`);
const id = made.data.id;
let status = made.data.status;
for (let i = 0; status !== "set"; i++) {
  if (i > 300) throw new Error(`never set: ${status}`);
  await new Promise((r) => setTimeout(r, 100));
  const read = await client.GET("/v1/access-codes/{id}", { params: { path: { id } } });
  if (!read.data) throw new Error(`read: ${JSON.stringify(read.error)}`);
  status = read.data.status;
}
console.log(`issued and set: ${id}`);
const gone = await client.DELETE("/v1/access-codes/{id}", { params: { path: { id } } });
if (!gone.data || !["removing", "removed"].includes(gone.data.status)) {
  throw new Error(`delete: ${JSON.stringify(gone.error ?? gone.data)}`);
}
console.log(`revoked: ${gone.data.status}`);
