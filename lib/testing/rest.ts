import { signToken } from '../auth/tokens.js';
import type { HashpubNode } from '../node-api.js';

/** A REST answer as tests see it: status, parsed JSON body (or the text), headers. */
export interface ApiAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** Returns a function that calls a node's REST API with its API key (a call that takes over `timeoutMs` rejects). */
export function restClient(url: string, apiKey: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs?: number): Promise<ApiAnswer> => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      ...(timeoutMs !== undefined ? { signal: AbortSignal.timeout(timeoutMs) } : {}),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}

/**
 * Returns a function that reads one sample of a node's /metrics, e.g. `metric('hashpub_ws_disconnects_total',
 * { reason: 'slow' })` (labels in the metric's own order); NaN when the node has no such sample.
 */
export function metricReader(url: string) {
  return async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',');
    const key = `${name}${wanted ? `{${wanted}}` : ''} `;
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(key));
    return line === undefined ? NaN : Number(line.slice(key.length));
  };
}

/** What tests hold of a started node, alone or in a test cluster. */
export interface NodeHandle {
  node: HashpubNode;
  url: string;
  apiKey: string;
  dataDir: string;
  /** Signs a client token with the node's JWT secret. */
  token(user: string, opts?: Parameters<typeof signToken>[2]): Promise<string>;
  /** REST call with the API key; resolves to status and parsed JSON body. */
  api: ReturnType<typeof restClient>;
  /** One sample of the node's /metrics (metricReader). */
  metric: ReturnType<typeof metricReader>;
}

/** The NodeHandle of a started node. */
export function nodeHandle(node: HashpubNode, dataDir: string): NodeHandle {
  return {
    node, url: node.url, apiKey: node.apiKey, dataDir,
    token: (user, opts) => signToken(node.jwtSecret, user, opts),
    api: restClient(node.url, node.apiKey),
    metric: metricReader(node.url),
  };
}
