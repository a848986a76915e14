// A typed client for the Zekka backend. `schema.d.ts` is generated from the
// server's /openapi.json (`npm run generate`); every path, parameter, body and
// answer — problems included — is typed from it, with no hand-written types.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };

/** A problem+json answer, as every route documents its failures. */
export type Problem = components["schemas"]["Problem"];

/** A client of `baseUrl`, sending `token()` (when it gives one) as the bearer. */
export function createZekkaClient(baseUrl: string, token: () => string | undefined = () => undefined) {
  const auth: Middleware = {
    onRequest({ request }) {
      const bearer = token();
      if (bearer) request.headers.set("Authorization", `Bearer ${bearer}`);
      return request;
    },
  };
  const client = createClient<paths>({ baseUrl });
  client.use(auth);
  return client;
}

/** The real-time socket of `baseUrl`, authenticated the browser's way (a subprotocol). */
export function openSocket(baseUrl: string, token: string): WebSocket {
  const url = new URL("/api/v1/ws", baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return new WebSocket(url, ["zekka", token]);
}

/** A message the socket sends. */
export interface SocketMessage {
  type: string;
  data: Record<string, unknown>;
  position: number;
}
