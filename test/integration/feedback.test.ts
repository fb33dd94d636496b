/**
 * `postbal feedback` as a child process, fed log lines recorded from a real
 * Postfix: plain lines only with --trust-input, journald lines by their sender's
 * uid, forged lines never; garbage never makes it fail or write to stderr.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, Interactive, ROOT, runPostbal, tempDir } from '../helpers/postbal.js';

const RECORDED = readFileSync(join(ROOT, 'test/fixtures/postfix-maillog.txt'), 'utf8');
const POOL = '{3}smtp0:[127.0.0.1]:2525\n{2}smtp1:[127.0.0.1]:2526\n{1}smtp2:[127.0.0.1]:2527\n';

/** The recorded lines as `journalctl -o json` would give them, from a sender of uid `uid`. */
function asJournal(uid: number): string {
  return RECORDED.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^\w{3} [ \d]\d [\d:]{8} \S+ ([^[]+)\[(\d+)\]: (.*)$/.exec(l)!;
    return JSON.stringify({ _UID: String(uid), _PID: m[2], _COMM: 'smtp', SYSLOG_IDENTIFIER: m[1], SYSLOG_PID: m[2], MESSAGE: m[3] });
  }).join('\n') + '\n';
}

test('feedback: decisions from recorded Postfix lines; forged or uncredentialed lines change nothing', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL);
    const args = ['feedback', '-c', cfg, '-s', 'none', '--syslog', 'none', '--print', '--mail-owner', '102'];
    const trusted = await runPostbal([...args, '--trust-input'], RECORDED);
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.equal(trusted.stderr, '');
    const lines = trusted.stdout.trim().split('\n');
    assert.equal(lines.length, 2, trusted.stdout);
    assert.match(trusted.stdout, /^smtp2: down after 3 connection failures: "connect to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: Connection refused"$/m);
    assert.match(trusted.stdout, /^smtp1: suspended for remote\.example until \S+: "host 127\.0\.0\.1\[127\.0\.0\.1\] said: 421 4\.0\.0 /m);
    // Plain lines without --trust-input: nothing believed.
    const plain = await runPostbal(args, RECORDED);
    assert.equal(plain.code, 0);
    assert.equal(plain.stdout, '');
    // journald lines: believed when the sender is mail_owner, never otherwise, --trust-input or not.
    const fromPostfix = await runPostbal(args, asJournal(102));
    const strip = (s: string): string => s.replace(/until \S+/g, 'until T');
    assert.equal(strip(fromPostfix.stdout), strip(trusted.stdout));
    const forged = await runPostbal([...args, '--trust-input'], asJournal(65534));
    assert.equal(forged.stdout, '', 'lines sent by uid 65534 moved nothing');
    // The summary says what was and was not believed.
    const counted = await runPostbal([...args.filter((a) => a !== '--syslog' && a !== 'none'), '--log-stderr'], asJournal(65534));
    assert.match(counted.stderr, /0 deliveries believed, 38 not believed \(sender not mail_owner\)/);
  } finally {
    t.cleanup();
  }
});

test('feedback: garbage, huge lines and binary input: exit 0, nothing on stdout or stderr', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL);
    const junk = Buffer.concat([
      Buffer.from('{"MESSAGE": [1,2,3], "SYSLOG_IDENTIFIER": 5}\n{not json\n\u0000\u0001\u0002\n'),
      Buffer.alloc(200_000, 0x41), Buffer.from('\n'),
      Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 256)),
    ]);
    const r = await runPostbal(['feedback', '-c', cfg, '-s', join(t.dir, 'state'), '--syslog', 'none', '--print', '--trust-input', '--mail-owner', '102'], junk);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, '');
  } finally {
    t.cleanup();
  }
});

test('feedback acts: a transport down and one suspended for a destination reach serving instances; the commands undo both', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL);
    const state = join(t.dir, 'state');
    const cli = (...a: string[]): string => execFileSync(process.execPath, [BIN, ...a, '-c', cfg, '-s', state, '--syslog', 'none'], { encoding: 'utf8' });
    const p = new Interactive(['-c', cfg, '-s', state, '--syslog', 'none']);
    const ask = async (prefix: string, domain: string, n: number): Promise<Map<string, number>> => {
      const counts = new Map<string, number>();
      for (let i = 0; i < n; i++) {
        const reply = await p.ask(`get ${prefix}${i}@${domain}`);
        counts.set(reply, (counts.get(reply) ?? 0) + 1);
      }
      return counts;
    };
    const before = await ask('a', 'remote.example', 12);
    assert.equal(before.size, 3, 'all three transports answer before any feedback');
    const fb = await runPostbal(['feedback', '-c', cfg, '-s', state, '--syslog', 'none', '--trust-input', '--mail-owner', '102'], RECORDED);
    assert.equal(fb.code, 0, fb.stderr);
    const status = cli('status');
    assert.match(status, /smtp2:\S+ +0 +1 +16\.7% +0\.0% +DOWN/);
    assert.match(status, /down until /);
    // The reply whole, as Postfix logged it (the state kept only 80 bytes before).
    assert.match(status, /smtp1:\S+ +for remote\.example until \S+: host 127\.0\.0\.1\[127\.0\.0\.1\] said: 421 4\.0\.0 .*\(in reply to RCPT TO command\)$/m);
    // The suspension shows in the transport's own row too, not only below the table.
    assert.match(status, /smtp1:\S+ +0 +2 +33\.3% +\S+ +SUSP\(1\)/);
    const json = JSON.parse(cli('status', '--json')) as { suspensions: { transport: string; destination: string }[]; transports: { health: string; suspendedFor: string[] }[] };
    assert.deepEqual(json.suspensions.map((x) => [x.transport, x.destination]), [['smtp1:[127.0.0.1]:2526', 'remote.example']]);
    assert.deepEqual(json.transports.map((x) => x.suspendedFor), [[], ['remote.example'], []]);
    // remote.example: smtp1 suspended there, smtp2 down: everything on smtp0.
    assert.deepEqual([...(await ask('b', 'remote.example', 20))], [['200 smtp0:[127.0.0.1]:2525', 20]]);
    // Another destination keeps smtp1; smtp2 is down for all.
    const other = await ask('c', 'other.example', 20);
    assert.equal(other.get('200 smtp2:[127.0.0.1]:2527'), undefined);
    assert.equal(other.get('200 smtp0:[127.0.0.1]:2525'), 12);
    assert.equal(other.get('200 smtp1:[127.0.0.1]:2526'), 8);
    assert.match(cli('clear-suspension', 'smtp1', 'remote.example'), /smtp1: 1 suspension cleared for remote\.example/);
    assert.match(cli('mark-up', 'smtp2'), /smtp2: up at full weight/);
    const after = await ask('d', 'remote.example', 12);
    assert.equal(after.size, 3, 'all three again');
    assert.doesNotMatch(cli('status'), /DOWN|suspended/);
    assert.equal(await p.end(), 0);
  } finally {
    t.cleanup();
  }
});

test('a decision outlives busy instances: after feedback, instances serving hundreds of new keys leave the down and the suspension in force', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL);
    const state = join(t.dir, 'state');
    const cli = (...a: string[]): string => execFileSync(process.execPath, [BIN, ...a, '-c', cfg, '-s', state, '--syslog', 'none'], { encoding: 'utf8' });
    // The file made by lookups, as under Postfix, then the decisions.
    assert.equal((await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], 'get first@x.example\n')).code, 0);
    const fb = await runPostbal(['feedback', '-c', cfg, '-s', state, '--syslog', 'none', '--trust-input', '--mail-owner', '102'], RECORDED);
    assert.equal(fb.code, 0, fb.stderr);
    const drained = cli('drain', 'smtp0');
    assert.match(drained, /drained/);
    assert.match(cli('undrain', 'smtp0'), /undrained|back/);
    for (let round = 0; round < 3; round++) {
      // One busy instance: new keys, each written into the memo.
      const keys = Array.from({ length: 800 }, (_, i) => `get busy${round}-${i}@d${i % 97}.example\n`).join('');
      const busy = await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys);
      assert.equal(busy.stdout.split('\n').filter(Boolean).length, 800);
      const status = cli('status');
      assert.match(status, /smtp2:\S+ .*DOWN/, `round ${round}: the down is still there`);
      assert.match(status, /smtp1:\S+ +for remote\.example until /, `round ${round}: the suspension is still there`);
      // A new instance: remote.example gets smtp0 only (smtp1 suspended there, smtp2 down).
      const fresh = await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], Array.from({ length: 60 }, (_, i) => `get fresh${round}-${i}@remote.example\n`).join(''));
      assert.deepEqual([...new Set(fresh.stdout.trim().split('\n'))], ['200 smtp0:[127.0.0.1]:2525'], `round ${round}`);
    }
  } finally {
    t.cleanup();
  }
});

test('feedback killed mid-stream (SIGKILL) and restarted: what it decided stays in force, the next one adds to it', async () => {
  const t = tempDir();
  try {
    const cfg = t.file('p.cf', POOL);
    const state = join(t.dir, 'state');
    const status = (): string => execFileSync(process.execPath, [BIN, 'status', '-c', cfg, '-s', state], { encoding: 'utf8' });
    const lines = RECORDED.split('\n').filter((l) => l && !l.startsWith('#'));
    const refused = lines.filter((l) => l.includes('Connection refused'));
    const throttled = lines.filter((l) => l.includes('said: 421'));
    const first = spawn(process.execPath, [BIN, 'feedback', '-c', cfg, '-s', state, '--syslog', 'none', '--trust-input', '--print'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let printed = '';
    first.stdout.on('data', (d: Buffer) => { printed += d.toString(); });
    first.stdin.write(`${refused.join('\n')}\n`);
    for (let i = 0; i < 100 && !printed.includes('down after'); i++) await sleep(50);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('close', r));
    assert.match(status(), /smtp2:\S+ .*DOWN/, 'the decision outlives the process');
    const second = await runPostbal(['feedback', '-c', cfg, '-s', state, '--syslog', 'none', '--trust-input', '--print'], `${throttled.join('\n')}\n`);
    assert.equal(second.code, 0);
    const after = status();
    assert.match(after, /smtp2:\S+ .*DOWN/);
    assert.match(after, /smtp1:\S+ +for remote\.example until/);
  } finally {
    t.cleanup();
  }
});
