/** `postbal daemon` as a child process, and clients of its sockets, for tests and labs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { BIN } from './postbal.js';

export interface RunningDaemon {
  readonly child: ChildProcess;
  /** Everything it logged so far (--log-stderr). */
  logs(): string;
  /** Resolves once its log has a line matching `re` (guard against a hang: `guardMs`). */
  waitLog(re: RegExp, guardMs?: number): Promise<void>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts `postbal daemon ARGS --log-stderr` (through `wrap` when given, e.g. systemd-socket-activate). */
/** Text a process writes, gathered, with a wait for a line matching a pattern (an event, guarded against a hang). */
export interface WatchedText {
  text(): string;
  waitFor(re: RegExp, guardMs?: number): Promise<RegExpExecArray>;
}

export function watchText(...streams: NodeJS.ReadableStream[]): WatchedText {
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const check = (): void => {
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (m) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m); }
    }
  };
  for (const s of streams) s.on('data', (d: Buffer) => { text += d.toString(); check(); });
  return {
    text: () => text,
    waitFor: (re, guardMs = 60_000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${re} within ${guardMs} ms; got:\n${text}`)), guardMs);
      waiters.push({ re, resolve: (m) => { clearTimeout(timer); resolve(m); } });
      check();
    }),
  };
}

/** Starts `postbal daemon ARGS --log-stderr` (through `wrap` when given, e.g. systemd-socket-activate). */
export function startDaemon(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; wrap?: readonly string[]; waitServing?: boolean } = {}): Promise<RunningDaemon> {
  const argv = [...(opts.wrap ?? []), process.execPath, BIN, 'daemon', ...args, '--log-stderr'];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  const log = watchText(child.stderr, child.stdout);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitLog = async (re: RegExp, guardMs?: number): Promise<void> => { await log.waitFor(re, guardMs); };
  const d: RunningDaemon = {
    child, logs: () => log.text(), waitLog, exited,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
  if (opts.waitServing === false) return Promise.resolve(d);
  return Promise.race([
    waitLog(/daemon: serving/).then(() => d),
    exited.then((code) => { throw new Error(`daemon exited ${code} before serving:\n${log.text()}`); }),
  ]);
}

/** A connection that asks and waits for each reply (or for every reply of a pipelined batch). */
export class Client {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #waiting: { done: (b: Buffer) => number; resolve: (s: string) => void } | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#deliver();
    });
    socket.on('error', () => undefined);
  }

  static open(where: string | number): Promise<Client> {
    const socket = typeof where === 'number' ? connect(where, '127.0.0.1') : connect(where);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(new Client(socket)));
      socket.once('error', reject);
    });
  }

  #deliver(): void {
    const w = this.#waiting;
    if (!w) return;
    const n = w.done(this.#buf);
    if (n <= 0) return;
    const out = this.#buf.subarray(0, n).toString('latin1');
    this.#buf = this.#buf.subarray(n);
    this.#waiting = undefined;
    w.resolve(out);
  }

  /** Writes `text`; resolves with the replies once `count` of them (ending in `end`) came. */
  ask(text: string, count = 1, end = '\n'): Promise<string> {
    return new Promise((resolve) => {
      this.#waiting = {
        done: (b) => {
          let at = 0;
          for (let i = 0; i < count; i++) {
            const j = b.indexOf(end, at, 'latin1');
            if (j < 0) return 0;
            at = j + end.length;
          }
          return at;
        },
        resolve,
      };
      this.socket.write(text);
      this.#deliver();
    });
  }

  /** Socketmap replies: netstrings. */
  askNetstrings(text: string, count = 1): Promise<string> {
    return this.ask(text, count, ',');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.closed) {
        resolve();
        return;
      }
      this.socket.once('close', () => resolve());
      this.socket.end();
    });
  }
}

export function netstring(s: string): string {
  return `${Buffer.byteLength(s)}:${s},`;
}
