import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export type Received = { headers: IncomingHttpHeaders; body: string };

/** A webhook receiver on 127.0.0.1 that answers every request with `status`
 * (change it to "fix" a failing receiver), after `delayMs` (0: at once). */
export class TestReceiver {
  readonly received: Received[] = [];
  status = 200;
  delayMs = 0;
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(status = 200): Promise<TestReceiver> {
    const received: Received[] = [];
    const state = { status, delayMs: 0 };
    const server = createServer((req, res) => {
      const status = state.status;
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        setTimeout(() => {
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(status < 300 ? 'thanks' : `receiver answered ${status}`);
        }, state.delayMs);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const receiver = new TestReceiver(server, `http://127.0.0.1:${port}/hooks`);
    (receiver as { received: Received[] }).received = received;
    Object.defineProperty(receiver, 'status', {
      get: () => state.status,
      set: (s: number) => { state.status = s; },
    });
    Object.defineProperty(receiver, 'delayMs', {
      get: () => state.delayMs,
      set: (ms: number) => { state.delayMs = ms; },
    });
    return receiver;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
