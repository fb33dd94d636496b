/**
 * `postbal policy` against a hostile or broken backend and a hostile client:
 * one stalling request opens nothing for anyone else, a reply without an
 * action or out of step never answers a request, a late reply never answers
 * a later request, and a client that pipelines without reading is read no
 * further (memory bounded).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { service, request, closedPort } from '../helpers/policy-service.js';
import { BIN, runPostbal } from '../helpers/postbal.js';

const from = (sender: string, recipient = 'r@x.example'): string => `request=smtpd_access_policy\nprotocol_state=RCPT\nsender=${sender}\nrecipient=${recipient}\nclient_address=192.0.2.1\n\n`;

test('policy attack: a request that makes the backend stall fails over by itself; other instances keep getting real verdicts', async () => {
  const svc = await service((r) => (r.includes('sender=slow@') ? '' : 'action=REJECT not wanted\n\n'));
  const dir = mkdtempSync(join(tmpdir(), 'postbal-slow-'));
  try {
    const args = ['policy', '-s', `one=127.0.0.1:${svc.port}:0:1:1`, '--breaker', '10', '--syslog', 'none', '--state', join(dir, 'policy.state')];
    const slow = await runPostbal(args, from('slow@attacker.example'));
    assert.equal(slow.stdout, 'action=dunno\n\n', 'the stalled request alone gets the default action');
    for (let k = 0; k < 3; k++) {
      const normal = await runPostbal(args, from(`user${k}@sender.example`));
      assert.equal(normal.stdout, 'action=REJECT not wanted\n\n', `instance ${k}: the real verdict, not the fail-open default`);
    }
    // The class, not the example: slow requests interleaved with answered ones never trip it.
    const mixed = await runPostbal(args, [from('slow@a'), from('u@b'), from('slow@c'), from('u@d'), from('slow@e'), from('u@f')].join(''), { timeoutMs: 60_000 });
    assert.equal(mixed.stdout, 'action=dunno\n\naction=REJECT not wanted\n\n'.repeat(3));
    // A service that hangs for every request is still tripped: 3 distinct requests in a row.
    svc.setHang(true);
    const hung = await runPostbal(args, from('a@x') + from('b@x') + from('c@x') + from('d@x'), { timeoutMs: 60_000 });
    assert.equal(hung.stdout, 'action=dunno\n\n'.repeat(4));
    const before = svc.connections();
    svc.setHang(false);
    const skipped = await runPostbal(args, from('e@x'));
    assert.equal(skipped.stdout, 'action=dunno\n\n', 'tripped: skipped by the next instance');
    assert.equal(svc.connections(), before, 'not even connected to');
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('policy attack: a reply without action=, or more than one reply, is no answer: the next service, then the default', async () => {
  const noAction = await service(() => 'result=whatever\n\n');
  const twice = await service(() => 'action=first\n\naction=second\n\n');
  const good = await service((r) => `action=good ${/recipient=(\S+)/.exec(r)![1]}\n\n`);
  try {
    for (const bad of [noAction, twice]) {
      const r = await runPostbal(['policy', '-s', `bad=127.0.0.1:${bad.port}:0`, '-s', `good=127.0.0.1:${good.port}:1`, '--syslog', 'none', '--state', 'none'], request('a@x') + request('b@x'));
      assert.equal(r.stdout, 'action=good a@x\n\naction=good b@x\n\n');
      const alone = await runPostbal(['policy', '-s', `bad=127.0.0.1:${bad.port}`, '-d', 'defer_if_permit try later', '--syslog', 'none', '--state', 'none'], request('a@x'));
      assert.equal(alone.stdout, 'action=defer_if_permit try later\n\n');
    }
  } finally {
    await Promise.all([noAction.close(), twice.close(), good.close()]);
  }
});

/** A service that answers each connection's requests one after another, in order, the first one `lateMs` late. */
async function lateService(lateMs: number): Promise<{ port: number; connections: () => number; closed: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let closed = 0;
  let first = true;
  const server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => closed++);
    let buf = '';
    let queue = Promise.resolve();
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const rcpt = /recipient=(\S+)/.exec(buf.slice(0, end))![1];
        buf = buf.slice(end + 2);
        const delay = first ? lateMs : 0;
        first = false;
        queue = queue.then(() => new Promise((r) => setTimeout(r, delay))).then(() => {
          if (!sock.destroyed) sock.write(`action=for ${rcpt}\n\n`);
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    connections: () => connections,
    closed: () => closed,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

test('policy attack: a reply that comes after its request timed out never answers a later request', async () => {
  const svc = await lateService(2500);
  try {
    const r = await runPostbal(['policy', '-s', `slow=127.0.0.1:${svc.port}:0:1:1`, '--syslog', 'none', '--state', 'none'], request('first@x') + request('second@x') + request('third@x'), { timeoutMs: 60_000 });
    assert.equal(r.stdout, 'action=dunno\n\naction=for second@x\n\naction=for third@x\n\n');
    assert.equal(svc.connections(), 2, 'the timed-out request\'s connection was dropped with it');
  } finally {
    await svc.close();
  }
});

test('policy attack: a reply nobody asked for drops that connection; the next request gets its own reply', async () => {
  const sockets = new Set<Socket>();
  let connections = 0;
  let last: Socket | undefined;
  const closes: (() => void)[] = [];
  const server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => closes.shift()?.());
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const rcpt = /recipient=(\S+)/.exec(buf.slice(0, end))![1];
        buf = buf.slice(end + 2);
        sock.write(`action=for ${rcpt}\n\n`);
        last = sock;
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const p = spawn(process.execPath, [BIN, 'policy', '-s', `one=127.0.0.1:${port}`, '--syslog', 'none', '--state', 'none'], { stdio: 'pipe', env: { PATH: '/usr/bin:/bin' } });
  try {
    let out = '';
    const replies: ((s: string) => void)[] = [];
    p.stdout.setEncoding('latin1').on('data', (d: string) => {
      out += d;
      let end: number;
      while ((end = out.indexOf('\n\n')) >= 0) {
        const reply = out.slice(0, end + 2);
        out = out.slice(end + 2);
        replies.shift()?.(reply);
      }
    });
    const ask = (rcpt: string): Promise<string> => new Promise((resolve) => {
      replies.push(resolve);
      p.stdin.write(request(rcpt));
    });
    const dropped = new Promise<void>((r) => closes.push(r));
    assert.equal(await ask('one@x'), 'action=for one@x\n\n');
    // A broken backend's second reply, once the first was taken and no request waits.
    last!.write('action=DUNNO stray\n\n');
    await dropped;
    assert.equal(await ask('two@x'), 'action=for two@x\n\n', 'never the stray reply');
    assert.equal(connections, 2);
    p.stdin.end();
    await new Promise((r) => p.once('close', r));
  } finally {
    p.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    server.close();
  }
});

test('policy attack: 400,000 pipelined requests (16 MB) from a client that reads slowly: all answered in order, memory bounded', async () => {
  const dead = await closedPort();
  const n = 400_000;
  const one = request('x@y');
  const p = spawn(process.execPath, [BIN, 'policy', '-s', `dead=127.0.0.1:${dead}`, '--syslog', 'none', '--state', 'none'], { stdio: 'pipe', env: { PATH: '/usr/bin:/bin' } });
  let peakKb = 0;
  const sample = (): void => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (m) peakKb = Math.max(peakKb, Number(m[1]));
    } catch {
      // Gone.
    }
  };
  try {
    p.stdin.on('error', () => undefined);
    const block = Buffer.from(one.repeat(1000));
    let written = 0;
    let writtenBytes = 0;
    const pump = (): void => {
      while (written < n) {
        written += 1000;
        writtenBytes += block.length;
        if (!p.stdin.write(block)) {
          p.stdin.once('drain', pump);
          return;
        }
      }
      p.stdin.end();
    };
    pump();
    let replies = 0;
    let text = '';
    let bad = 0;
    // Read in small bites, pausing after each: a slow reader.
    p.stdout.setEncoding('latin1');
    // Requests postbal has taken from the pipe but not answered yet (the pipe itself holds at most 64 KiB).
    let mostAhead = 0;
    for await (const chunk of p.stdout) {
      sample();
      mostAhead = Math.max(mostAhead, (writtenBytes - p.stdin.writableLength) / one.length - replies);
      text += chunk as string;
      const parts = text.split('\n\n');
      text = parts.pop()!;
      for (const r of parts) {
        replies++;
        if (r !== 'action=dunno') bad++;
      }
      // A pause per read: the reader is slower than the writer, as a stuck peer is.
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => (p.exitCode === null ? p.once('exit', r) : r(null)));
    assert.equal(replies, n, 'one reply per request');
    assert.equal(bad, 0);
    process.stdout.write(`# ${n} pipelined requests: at most ${Math.round(mostAhead)} read ahead of their replies, peak RSS ${Math.round(peakKb / 1024)} MB\n`);
    // Unpaused, postbal read all of them at once (287 MB seen); paused: what two pipes, one read and 64 KiB of unsent replies hold.
    assert.ok(mostAhead < 40_000, `${Math.round(mostAhead)} requests read ahead of their replies`);
  } finally {
    p.kill('SIGKILL');
  }
});
