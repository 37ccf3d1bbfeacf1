/**
 * Ports that fetch refuses to connect to, whatever the scheme: the "bad ports" of the Fetch standard
 * (https://fetch.spec.whatwg.org/#port-blocking), which Node's fetch (undici) applies. A webhook URL on one of them
 * would be accepted at start-up and then fail every delivery with "bad port".
 */
const FETCH_BAD_PORTS: ReadonlySet<number> = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/**
 * Why an alert webhook URL cannot work, or null when it can: checked when the configuration is read, so that a URL
 * fetch would refuse stops the start with a message instead of failing every alert later.
 */
export function webhookUrlProblem(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.username || url.password) {
    return 'must not carry a user or password (fetch refuses them): put a token in the path or query instead';
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  if (FETCH_BAD_PORTS.has(port)) {
    return `uses port ${port}, which fetch refuses to connect to (a "bad port" of the Fetch standard): use another port`;
  }
  return null;
}
