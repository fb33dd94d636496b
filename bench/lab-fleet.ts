/**
 * `npm run lab:fleet`: the three-host lab (test/e2e/fleet-lab.ts) with
 * 3 x 1,000 messages (LAB_MESSAGES to change it), printing its figures.
 * Needs root (Postfix, redis-server and libfaketime are installed when missing).
 */
import { ensurePostfix } from '../test/e2e/lab.js';
import { ensureRedis } from '../test/helpers/redis.js';
import { ensureFaketime } from '../test/helpers/faketime.js';
import { runFleetLab } from '../test/e2e/fleet-lab.js';

const missing = ensurePostfix() ?? ensureRedis() ?? ensureFaketime();
if (missing) {
  process.stderr.write(`lab:fleet SKIPPED: ${missing}\n`);
  process.exit(1);
}
const messages = Number(process.env.LAB_MESSAGES ?? 1000);
const f = await runFleetLab(messages, (s) => process.stdout.write(`${s}\n`));
process.stdout.write(`${JSON.stringify(f, null, 2)}\n`);
