import { type Server, type Socket, connect, createServer } from 'node:net';

interface Pending {
  chunk: Buffer;
  due: number;
}

/** One direction of a proxied connection: reads `from`, writes `to`, holding chunks while blackholed or delayed. */
class Pipe {
  private readonly queue: Pending[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly proxy: TcpProxy,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.queue.push({ chunk, due: Date.now() + proxy.delayMs });
      this.pump();
    });
    from.on('end', () => {
      this.queue.push({ chunk: Buffer.alloc(0), due: Date.now() + proxy.delayMs });
      this.pump();
    });
  }

  /** Writes what is due, unless the proxy forwards nothing; comes back for what is not due yet. */
  pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.proxy.blackholed) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) {
      const { chunk } = this.queue.shift()!;
      if (this.to.destroyed) return;
      if (chunk.length === 0) this.to.end();
      else this.to.write(chunk);
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.pump(), this.queue[0].due - now);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}

/**
 * A TCP proxy on a free loopback port in front of PostgreSQL or Redis, for the tests that make a dependency hang
 * without stopping it (test/fail-fast.e2e-spec.ts):
 *
 * - `blackhole()`: it keeps accepting connections but forwards nothing, either way: what a client sends, and what the
 *   server answers, waits (the sockets are paused, so the kernel's buffers fill and the sender is held by TCP flow
 *   control, as behind a network path that drops packets until they are retransmitted). Nothing is lost: `heal()`
 *   lets it all through, in order.
 * - `delay(ms)`: every chunk, either way, is held that long (a slow network, or a slow server).
 *
 * It only ever closes the connections it proxies (`close()`), and listens on 127.0.0.1 only.
 */
export class TcpProxy {
  blackholed = false;
  delayMs = 0;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Starts a proxy to `host:port` on a free port. */
  static async start(target: { host?: string; port: number }): Promise<TcpProxy> {
    const host = target.host ?? '127.0.0.1';
    const accepted: { proxy?: TcpProxy } = {};
    const server = createServer((client) => accepted.proxy!.accept(client, host, target.port));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    accepted.proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    return accepted.proxy;
  }

  /** The same URL, through the proxy (`postgres://...@127.0.0.1:<proxy port>/db`, `redis://127.0.0.1:<port>`). */
  via(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** Connections open now. */
  get connections(): number {
    return this.pairs.size;
  }

  blackhole(): void {
    this.blackholed = true;
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  heal(): void {
    this.blackholed = false;
    for (const { client, upstream, pipes } of this.pairs) {
      client.resume();
      upstream.resume();
      for (const pipe of pipes) pipe.pump();
    }
  }

  delay(ms: number): void {
    this.delayMs = ms;
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    const upstream = connect({ host, port });
    const pair = { client, upstream, pipes: [] as Pipe[] };
    pair.pipes.push(new Pipe(client, upstream, this), new Pipe(upstream, client, this));
    this.pairs.add(pair);
    if (this.blackholed) {
      client.pause();
      upstream.pause();
    }
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.drop(pair));
      socket.on('close', () => this.drop(pair));
    }
  }

  private drop(pair: { client: Socket; upstream: Socket; pipes: Pipe[] }): void {
    if (!this.pairs.delete(pair)) return;
    for (const pipe of pair.pipes) pipe.stop();
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
