import { hostname } from 'node:os';
import { formatRfc3164 } from './format.js';
import type { Level, Logger } from './types.js';

/**
 * A remote collector over udp://, tcp:// or tls://, through syslog-pro's
 * transport. We format the message ourselves (RFC 3164 with a 24-hour clock)
 * and use syslog-pro only to carry it, because its formatter writes hours with
 * `hh`. syslog-pro opens a socket per message, so sends in flight are capped
 * and the excess dropped rather than queued without bound. syslog-pro (and
 * moment, which it loads) is imported only when a remote target is configured.
 */

const MAX_IN_FLIGHT = 64;

type SyslogSender = { send(msg: string): Promise<unknown> };

export interface RemoteTarget {
  readonly protocol: 'udp' | 'tcp' | 'tls';
  readonly host: string;
  readonly port: number;
}

/** Parses `udp://host[:port]`, `tcp://…`, `tls://…`; undefined when not such a URL. */
export function parseRemoteTarget(text: string): RemoteTarget | undefined {
  const m = /^(udp|tcp|tls):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?\/?$/.exec(text);
  if (!m) return undefined;
  const port = m[3] ? Number(m[3]) : m[1] === 'tls' ? 6514 : 514;
  if (port < 1 || port > 65535) return undefined;
  return { protocol: m[1] as RemoteTarget['protocol'], host: m[2]!.replace(/^\[|\]$/g, ''), port };
}

export class RemoteSyslog implements Logger {
  readonly #tag: string;
  readonly #pid: number;
  readonly #host = hostname().split('.')[0] ?? 'localhost';
  #sender: SyslogSender | undefined;
  #queue: string[] = [];
  #inFlight = 0;
  #dropped = 0;

  constructor(target: RemoteTarget, tag: string, pid: number) {
    this.#tag = tag;
    this.#pid = pid;
    import('syslog-pro')
      .then((mod) => {
        const { Syslog } = mod;
        this.#sender = new Syslog({ target: target.host, port: target.port, protocol: target.protocol, format: 'none', tcpTimeout: 5000 });
        const queued = this.#queue;
        this.#queue = [];
        for (const m of queued) this.#send(m);
      })
      .catch(() => {
        this.#queue = [];
      });
  }

  log(level: Level, message: string): void {
    const msg = formatRfc3164(level, new Date(), this.#host, this.#tag, this.#pid, message.replace(/\n/g, ' '));
    if (!this.#sender) {
      if (this.#queue.length < MAX_IN_FLIGHT * 4) this.#queue.push(msg);
      else this.#dropped++;
      return;
    }
    this.#send(msg);
  }

  #send(msg: string): void {
    if (this.#inFlight >= MAX_IN_FLIGHT) {
      this.#dropped++;
      return;
    }
    this.#inFlight++;
    this.#sender!.send(msg)
      .catch(() => undefined)
      .finally(() => {
        this.#inFlight--;
      });
  }

  close(): void {}
}
