// ioredis against node-redis (@redis/client) for the fleet agent's work: one
// pipelined tick (two hash reads, a get, a heartbeat write), 5,000 times.
// Run: npm i --no-save @redis/client && redis-server --port 6399 --save '' &
//      for r in 1 2 3; do node scripts/fleet-clients.mjs ioredis 6399; node scripts/fleet-clients.mjs redis 6399; done
// Prints load+connect time, p50/p99 of a tick, RSS and CPU.
import { performance } from 'node:perf_hooks';
const which = process.argv[2]; const port = +process.argv[3];
const t0 = performance.now();
let c, call;
if (which === 'ioredis') {
  const { Redis } = await import('ioredis');
  c = new Redis({ port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  await c.connect();
  call = async () => { const p = c.pipeline(); p.hgetall('f:drains'); p.hgetall('f:trouble'); p.get('f:epoch'); p.hset('f:hosts', 'h1', 'x'); return p.exec(); };
} else {
  const { createClient } = await import('@redis/client');
  c = createClient({ socket: { port }, disableOfflineQueue: true });
  await c.connect();
  call = async () => c.multi().hGetAll('f:drains').hGetAll('f:trouble').get('f:epoch').hSet('f:hosts', 'h1', 'x').execAsPipeline();
}
const load = performance.now() - t0;
const lat = [];
for (let i = 0; i < 500; i++) await call();
for (let i = 0; i < 5000; i++) { const s = performance.now(); await call(); lat.push(performance.now() - s); }
lat.sort((a, b) => a - b);
const ru = process.resourceUsage();
console.log(JSON.stringify({ which, loadConnectMs: +load.toFixed(1), p50us: +(lat[2500]*1000).toFixed(0), p99us: +(lat[4950]*1000).toFixed(0), rssMB: +(process.memoryUsage().rss/1e6).toFixed(1), cpuMs: Math.round((ru.userCPUTime+ru.systemCPUTime)/1000) }));
await (which === 'ioredis' ? c.quit() : c.quit());
