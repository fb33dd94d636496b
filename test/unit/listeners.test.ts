/** The daemon's listener addresses and the sockets systemd passes (io/listeners.ts), pure parts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseListenSpec, sameAddress, takeInheritedSockets } from '../../src/io/listeners.js';

test('listeners: --listen forms that parse, and what each refusal says', () => {
  assert.deepEqual(parseListenSpec('tcp:127.0.0.1:2526'), { protocol: 'tcp', address: { kind: 'inet', host: '127.0.0.1', port: 2526 } });
  assert.deepEqual(parseListenSpec('policy:[::1]:9998'), { protocol: 'policy', address: { kind: 'inet', host: '::1', port: 9998 } });
  assert.deepEqual(parseListenSpec('socketmap:localhost:1'), { protocol: 'socketmap', address: { kind: 'inet', host: 'localhost', port: 1 } });
  assert.deepEqual(parseListenSpec('socketmap:/var/spool/postfix/private/postbal-map'), { protocol: 'socketmap', address: { kind: 'unix', path: '/var/spool/postfix/private/postbal-map' } });
  for (const [text, says] of [
    ['smtp:127.0.0.1:25', /unknown protocol "smtp"/],
    ['tcp', /expected PROTOCOL:ADDRESS/],
    ['tcp:127.0.0.1', /expected PROTOCOL:ADDRESS/],
    ['tcp:127.0.0.1:0', /expected PROTOCOL:ADDRESS/],
    ['tcp:127.0.0.1:65536', /expected PROTOCOL:ADDRESS/],
    ['tcp:relative/path.sock', /expected PROTOCOL:ADDRESS/],
    ['policy:host name:25', /expected PROTOCOL:ADDRESS/],
    [`socketmap:/${'x'.repeat(107)}`, /at most 107 bytes, got 108/],
  ] as const) {
    const r = parseListenSpec(text);
    assert.ok('problem' in r, text);
    assert.match(r.problem, says, text);
  }
});

test('listeners: sockets passed by systemd are ours only when LISTEN_PID is our pid; the variables are taken out either way', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '3', LISTEN_FDNAMES: 'socketmap::policy' };
  assert.deepEqual(takeInheritedSockets(env, 42), [{ fd: 3, name: 'socketmap' }, { fd: 4, name: undefined }, { fd: 5, name: 'policy' }]);
  assert.deepEqual(env, {}, 'no child inherits them');
  assert.deepEqual(takeInheritedSockets({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), [], 'meant for another process (a parent that exec-ed us without resetting them)');
  assert.deepEqual(takeInheritedSockets({ LISTEN_PID: '42', LISTEN_FDS: 'x' }, 42), []);
  assert.deepEqual(takeInheritedSockets({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42), []);
  assert.deepEqual(takeInheritedSockets({}, 42), []);
});

test('listeners: an inherited socket matches the --listen of its address', () => {
  const a = (host: string, port: number) => ({ kind: 'inet', host, port }) as const;
  assert.ok(sameAddress(a('127.0.0.1', 25), a('127.0.0.1', 25)));
  assert.ok(sameAddress(a('localhost', 25), a('127.0.0.1', 25)), 'localhost names the loopback address systemd reports');
  assert.ok(!sameAddress(a('127.0.0.1', 25), a('127.0.0.1', 26)));
  assert.ok(sameAddress({ kind: 'unix', path: '/run/p.sock' }, { kind: 'unix', path: '/run/p.sock' }));
  assert.ok(!sameAddress({ kind: 'unix', path: '/run/p.sock' }, { kind: 'unix', path: '/run/q.sock' }));
  assert.ok(!sameAddress({ kind: 'unix', path: '/run/p.sock' }, a('127.0.0.1', 25)));
});
