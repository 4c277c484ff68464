/** A REST answer as tests see it: status, parsed JSON body (or the text), headers. */
export interface ApiAnswer {
  status: number;
  body: any;
  headers: Headers;
}

/** Returns a function that calls a node's REST API with its API key. */
export function restClient(url: string, apiKey: string) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> => {
    const res = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: res.status, body: parsed, headers: res.headers };
  };
}
