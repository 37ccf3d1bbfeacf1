// The participant of test/participant-limits.e2e-spec.ts, in a process of its own that does nothing else, so that
// the arrival times it records are not bunched by the test runner's own work (a busy event loop stamps the calls
// that queued up meanwhile all at once). PORT: where it listens. It answers `POST /calls` after the current delay,
// and records each call's arrival (ms, with sub-millisecond precision), when its agent sent it (x-sent-at), its
// idempotency key and its agent (x-agent).
// Control: GET /_state (calls, in flight, most in flight, in flight per agent), POST /_reset?delayMs=N.
const { createServer } = require('node:http');

let calls = [];
let inFlight = 0;
let maxInFlight = 0;
let byAgent = {};
let delayMs = 0;

const server = createServer((req, res) => {
  const at = performance.timeOrigin + performance.now();
  const url = new URL(req.url, 'http://participant');
  if (url.pathname === '/_state') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ calls, inFlight, maxInFlight, byAgent }));
    return;
  }
  if (url.pathname === '/_reset') {
    calls = [];
    byAgent = {};
    inFlight = 0;
    maxInFlight = 0;
    delayMs = Number(url.searchParams.get('delayMs') ?? 0);
    res.writeHead(204);
    res.end();
    return;
  }
  const key = String(req.headers['idempotency-key'] ?? '');
  const agent = String(req.headers['x-agent'] ?? '');
  const sentAt = Number(req.headers['x-sent-at'] ?? NaN);
  calls.push({ at, sentAt, key, agent });
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  byAgent[agent] = (byAgent[agent] ?? 0) + 1;
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    inFlight--;
    byAgent[agent]--;
  };
  // A caller killed mid-call: its socket closes and the call is no longer in flight.
  res.on('close', end);
  req.resume();
  setTimeout(() => {
    if (done) return;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: true }), end);
  }, delayMs);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('participant ready'));
