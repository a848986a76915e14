// The example CI runs against `zekka up`: register and sign in, create a
// project, list projects, open the socket, subscribe, and hear the
// conversation just started. Exits 1 on any failure.
import { createZekkaClient, openSocket, type SocketMessage } from "./index.js";

const baseUrl = process.env.ZEKKA_URL ?? "http://127.0.0.1:8080";
let token: string | undefined;
const api = createZekkaClient(baseUrl, () => token);

function fail(what: string, detail: unknown): never {
  console.error(`example failed: ${what}`, detail);
  process.exit(1);
}

const email = `example-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
const password = `example-${crypto.randomUUID()}`;
const registered = await api.POST("/api/v1/auth/register", {
  body: { email, password, display_name: "Example" },
});
if (!registered.data) fail("register", registered.error);

const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
if (!login.data) fail("login", login.error);
token = login.data.access_token;

const created = await api.POST("/api/v1/projects", { body: { name: "From TypeScript" } });
if (!created.data) fail("create a project", created.error);
const project = created.data.id;

const listed = await api.GET("/api/v1/projects", {
  params: { header: { "X-Consistency-Token": created.data.consistency_token } },
});
if (!listed.data) fail("list projects", listed.error);
if (!listed.data.items.some((p) => p.id === project)) fail("the new project is listed", listed.data);
console.log(`projects: ${listed.data.items.map((p) => p.name).join(", ")}`);

const socket = openSocket(baseUrl, token);
const heard = new Promise<SocketMessage>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no conversation:created within 10 s")), 10_000);
  socket.addEventListener("message", async (event) => {
    const message = JSON.parse(String(event.data)) as SocketMessage;
    if (message.type === "connection:established") {
      socket.send(JSON.stringify({ type: "subscribe", project_id: project }));
      // Give the subscription a moment, then write.
      setTimeout(async () => {
        const started = await api.POST("/api/v1/conversations", {
          body: { project_id: project, title: "Hello from TypeScript" },
        });
        if (!started.data) reject(new Error(JSON.stringify(started.error)));
      }, 200);
    }
    if (message.type === "conversation:created") {
      clearTimeout(timer);
      resolve(message);
    }
  });
  socket.addEventListener("error", () => reject(new Error("the socket failed")));
});
try {
  const message = await heard;
  console.log(`heard ${message.type}: ${String(message.data.title)}`);
} catch (error) {
  fail("real time", error);
} finally {
  socket.close();
}
