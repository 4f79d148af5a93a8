// A fetch that records what a client library really sent and what came back,
// so tests can assert the wire (an id and never a document) and not only the
// library's view of it.

/** JSON.parse, or the text itself when it is not JSON. */
function maybeJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * recorder returns a fetch to hand to a client and the list it fills, one
 * entry per request: method, Accept, the request parameters as sent (the
 * JSON body of a POST, or the query string of a GET with its JSON values
 * decoded), the status, the media type, whether the answer had a data key,
 * and the codes of its errors.
 */
export function recorder() {
  const requests = [];
  async function recordingFetch(input, init = {}) {
    const url = new URL(typeof input === 'string' ? input : input.url ?? String(input));
    const method = (init.method ?? 'GET').toUpperCase();
    const sent = method === 'GET'
      ? Object.fromEntries([...url.searchParams].map(([k, v]) => [k, maybeJSON(v)]))
      : maybeJSON(init.body);
    const res = await fetch(input, init);
    const answer = maybeJSON(await res.clone().text());
    requests.push({
      method,
      accept: new Headers(init.headers).get('accept'),
      sent,
      status: res.status,
      contentType: res.headers.get('content-type'),
      hasData: typeof answer === 'object' && answer !== null && 'data' in answer,
      codes: (answer?.errors ?? []).map((e) => e.extensions?.code),
    });
    return res;
  }
  return { fetch: recordingFetch, requests };
}

/** The keys of what a request sent whose values are not null or undefined. */
export function sentKeys(request) {
  return Object.entries(request.sent ?? {}).filter(([, v]) => v !== null && v !== undefined).map(([k]) => k).sort();
}
