/** Small policy services for tests: each answers with `reply(request)`, or hangs. */
import { createServer, type Server, type Socket } from 'node:net';

export interface Service {
  readonly port: number;
  /** Every byte each connection received, in order. */
  readonly received: Buffer[];
  readonly connections: () => number;
  /** Requests answered so far. */
  readonly answered: () => number;
  /** Starts or stops answering (a hung service that recovers). */
  setHang(hang: boolean): void;
  close(): Promise<void>;
}

/** A policy service answering each request with `reply(request)`; `hang`: accepts and never answers. */
export async function service(reply: (request: string) => string, hang = false): Promise<Service> {
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  let answered = 0;
  let hanging = hang;
  const server: Server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    let buf = '';
    sock.on('data', (d: Buffer) => {
      received.push(d);
      if (hanging) return;
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const request = buf.slice(0, end + 2);
        buf = buf.slice(end + 2);
        answered++;
        sock.write(reply(request));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    received,
    connections: () => connections,
    answered: () => answered,
    setHang: (h: boolean) => { hanging = h; },
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

export const request = (recipient: string, extra = ''): string => `request=smtpd_access_policy\nprotocol_state=RCPT\nsender=a@x.example\n${extra}recipient=${recipient}\nclient_address=192.0.2.1\n\n`;

/** A port nothing listens on. */
export const closedPort = async (): Promise<number> => {
  const s = await service(() => '');
  await s.close();
  return s.port;
};
