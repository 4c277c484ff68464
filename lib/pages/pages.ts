import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Web pages a node serves beside its API: the dashboard on every node (static-pages.ts), the demo pages and
 * the demo's own endpoints in `hashpub demo` (lib/demo/). The HTTP edge asks `handles` before the REST API.
 */
export interface PageRoutes {
  /** Whether these routes answer `path` (a URL path such as /dashboard). */
  handles(path: string): boolean;
  /** Answers the request (errors thrown become JSON errors, as for the API). */
  serve(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | void;
}
