import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole answer as received, for "never echoed" checks. */
  text: string;
}

/**
 * Writes bytes to the server as they are (no client-side checks on URL or header size), optionally leaving the
 * connection open after them, and reads the answer until the server closes or `timeoutMs` passes.
 */
export function rawHttp(
  port: number,
  request: string | Buffer,
  { keepOpen = false, timeoutMs = 5000 }: { keepOpen?: boolean; timeoutMs?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      const [statusLine, ...headerLines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of headerLines) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1] ?? 0),
        headers,
        body: rest.join('\r\n\r\n'),
        text,
      });
    };
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      // A complete JSON answer with a Content-Length: no need to wait for the close.
      const text = Buffer.concat(chunks).toString('utf8');
      const length = /content-length:\s*(\d+)/i.exec(text)?.[1];
      const bodyAt = text.indexOf('\r\n\r\n');
      if (length !== undefined && bodyAt >= 0 && Buffer.byteLength(text.slice(bodyAt + 4)) >= Number(length)) {
        socket.destroy();
        finish();
      }
    });
    socket.on('close', () => {
      if (!socket.destroyed || chunks.length > 0) finish();
    });
    socket.on('error', () => {
      // The server may reset after answering; what was read is the answer.
    });
    socket.write(request, () => {
      if (!keepOpen) socket.end();
    });
  });
}
