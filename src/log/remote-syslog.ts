import { lazyRequire } from '../lazy-require.js';
import { formatRfc3164, neutraliseMessage } from './format.js';
import type { Level, Logger } from './types.js';
import type * as Os from 'node:os';
import type * as SyslogPro from 'syslog-pro';

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
  #host = 'localhost';
  #sender: SyslogSender | undefined;
  #queue: { level: Level; date: Date; message: string }[] = [];
  #inFlight = 0;
  #dropped = 0;

  constructor(target: RemoteTarget, tag: string, pid: number) {
    this.#tag = tag;
    this.#pid = pid;
    // Deferred past start-up: syslog-pro loads moment, a large module.
    setImmediate(() => {
      try {
        this.#host = lazyRequire<typeof Os>('node:os').hostname().split('.')[0] || 'localhost';
        const { Syslog } = lazyRequire<typeof SyslogPro>('syslog-pro');
        this.#sender = new Syslog({ target: target.host, port: target.port, protocol: target.protocol, format: 'none', tcpTimeout: 5000 });
      } catch {
        this.#queue = [];
        return;
      }
      const queued = this.#queue;
      this.#queue = [];
      for (const m of queued) this.#send(this.#format(m.level, m.date, m.message));
    });
  }

  log(level: Level, message: string): void {
    if (!this.#sender) {
      if (this.#queue.length < MAX_IN_FLIGHT * 4) this.#queue.push({ level, date: new Date(), message });
      else this.#dropped++;
      return;
    }
    if (this.#dropped > 0 && this.#inFlight < MAX_IN_FLIGHT) {
      // Said as soon as there is room again, as the local logger does.
      const n = this.#dropped;
      this.#dropped = 0;
      this.#send(this.#format('warning', new Date(), `syslog collector was too slow: ${n} log lines dropped`));
    }
    this.#send(this.#format(level, new Date(), message));
  }

  #format(level: Level, date: Date, message: string): string {
    return formatRfc3164(level, date, this.#host, this.#tag, this.#pid, neutraliseMessage(message));
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
