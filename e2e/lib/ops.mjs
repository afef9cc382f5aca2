// Helpers for the operations endpoints: Prometheus metrics and the admin API.

/** Parses the Prometheus text format into { "name{labels}": value }. */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Fetches and parses a server's /metrics. */
export async function scrape(server) {
  const r = await fetch(server.url + "/metrics");
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`);
  return parseMetrics(await r.text());
}

/** Calls the admin API; returns { status, body }. */
export async function admin(server, path, { token, method = "GET" } = {}) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch(server.url + path, { method, headers });
  const text = await r.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: r.status, body };
}
