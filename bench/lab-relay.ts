/**
 * npm run lab:relay: brings up the relay of examples/relay/ privately (root;
 * installs postfix, haproxy and postfwd from Debian when missing), sends
 * mail from several client addresses, prints what happened, stops it all.
 */
import { smtpSession } from '../test/e2e/lab.js';
import { RelayLab, relayUnavailable } from '../test/e2e/relay-lab.js';

const why = relayUnavailable();
if (why !== undefined) {
  console.log(`lab:relay cannot run here: ${why}`);
  process.exit(69);
}
const CLIENTS = ['127.0.0.9', '127.0.0.10', '127.0.0.11', '127.0.0.12', '127.0.0.200'];
const PER_CLIENT = Number(process.env.LAB_MESSAGES ?? 100);
const lab = await RelayLab.start();
try {
  console.log(`relay up in ${lab.dir}: HAProxy 127.0.0.1:${lab.smtpPort} -> mx1 postscreen :${lab.instances[0]!.postscreenPort}, mx2 postscreen :${lab.instances[1]!.postscreenPort}; outbound to smtp-sink :${lab.sinkPort}`);
  const verdicts = new Map<string, number>();
  const t0 = performance.now();
  const took = new Map<string, number>();
  await Promise.all(CLIENTS.map(async (client) => {
    const c0 = performance.now();
    for (let i = 0; i < PER_CLIENT; i += 10) {
      // 127.0.0.200 is outside mynetworks: its mail to a foreign domain must be refused.
      const to = (k: number): string => (client === '127.0.0.200' ? `x${i + k}@foreign.example` : `${(i + k) % 10 === 9 ? 'blocked' : 'user'}-${client}-${i + k}@remote.example`);
      const replies = await smtpSession(lab.smtpPort, Array.from({ length: 10 }, (_, k) => ({ from: 'sender@lab.test', to: to(k) })), { rcptMayFail: true, localAddress: client });
      for (const r of replies) {
        const key = r.startsWith('250') ? 'accepted' : r.replace(/^(\d{3} [\d.]+) <[^>]*>: /, '$1 ');
        verdicts.set(key, (verdicts.get(key) ?? 0) + 1);
      }
    }
    took.set(client, (performance.now() - c0) / 1000);
  }));
  const seconds = (performance.now() - t0) / 1000;
  const accepted = verdicts.get('accepted') ?? 0;
  for (let k = 0; k < 240 && lab.delivered().byRecipient.size < accepted; k++) await new Promise((r) => setTimeout(r, 250));
  const d = lab.delivered();
  console.log(`\n${CLIENTS.length * PER_CLIENT} messages from ${CLIENTS.join(', ')} in ${seconds.toFixed(1)} s, sessions of 10 messages, one session at a time per client:`);
  for (const [c, s] of took) console.log(`  ${c}: ${s.toFixed(1)} s (${(PER_CLIENT / s).toFixed(0)} msgs/s)${c === '127.0.0.200' ? ', outside mynetworks: postscreen makes it wait its greeting delay each session' : ''}`);
  console.log('\nconnections per instance (client sessions postscreen logged):');
  lab.instances.forEach((inst, k) => {
    const addresses = new Map<string, number>();
    for (const m of lab.log(k).matchAll(/postscreen\[\d+\]: CONNECT from \[([\d.]+)\]/g)) addresses.set(m[1]!, (addresses.get(m[1]!) ?? 0) + 1);
    console.log(`  ${inst.name}: ${[...addresses].sort().map(([a, n]) => `${a} ${n}`).join(', ')}${addresses.has('127.0.0.1') ? '  (127.0.0.1: HAProxy\'s health checks)' : ''}`);
  });
  console.log('\nverdicts at RCPT:');
  for (const [v, n] of verdicts) console.log(`  ${String(n).padStart(5)}  ${v}`);
  const total = [...d.byTransport.values()].reduce((s, n) => s + n, 0);
  console.log(`\ndelivered ${d.byRecipient.size} of ${accepted} accepted (${d.deferred} deferrals); outbound shares (weights 3:2:1):`);
  for (const [t, n] of [...d.byTransport].sort()) console.log(`  ${t}  ${String(n).padStart(5)}  ${(100 * n / total).toFixed(1)}%`);
  const n = 500;
  const via = lab.smtpSource(lab.smtpPort, n, 10, 'tput-h');
  const direct = lab.smtpSource(lab.instances[1]!.directPort, n, 10, 'tput-d');
  console.log(`\nsmtp-source, ${n} messages in 10 sessions: through HAProxy and postscreen ${(n / via).toFixed(0)} msgs/s; straight to smtpd (no HAProxy) ${(n / direct).toFixed(0)} msgs/s`);
} finally {
  lab.stop();
  console.log('\nstopped: HAProxy, both Postfix instances, postfwd, smtp-sink, postbal feedback; lab directory removed (POSTBAL_KEEP_LAB=1 keeps it)');
}
