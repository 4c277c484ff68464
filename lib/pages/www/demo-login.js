// Shared by the demo pages: asks the demo for a token (POST /demo/token exists only in `hashpub demo`; a real
// app signs tokens on its own server) and connects the official client, served by the node at /v1/client.js.

/** {name, lang, role} -> {token, user, lang, role, urls}; throws Error(message) when refused. */
export async function demoToken(who) {
  const res = await fetch('/demo/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(who) });
  const answer = await res.json();
  if (!res.ok) throw new Error(answer.error?.message ?? `HTTP ${res.status}`);
  return answer;
}

/** Connects to this page's node first, then the other nodes of the demo (the client fails over between them). */
export async function connectAs(who) {
  const { connect } = await import('/v1/client.js');
  const first = await demoToken(who);
  const urls = [location.origin, ...first.urls.filter((u) => u !== location.origin)];
  let fresh = first.token;
  // The token callback: the first call uses the token we have; later ones (expiry, 401) fetch a new one.
  const token = async () => {
    const t = fresh ?? (await demoToken(who)).token;
    fresh = null;
    return t;
  };
  return { client: connect(urls, { token }), me: first };
}
