import { resolve } from 'node:path';
import { describeUser } from '../sys/users.js';
import { EX } from '../errors.js';
import { hashLo } from '../keys/hash.js';
import { clearSuspensions, markUp } from '../feedback/apply.js';
import { changeState, poolAndMembers, type ControlIo } from './control.js';
import type { PoolConfig } from '../config/types.js';

/**
 * `postbal mark-up` and `postbal clear-suspension`: an administrator
 * overrides what postbal feedback decided. Like drain, they change the shared
 * state under the lock, and every serving instance sees it at its next lookup.
 */

/** The pool and the state-file ids of the entries `name` names, or an exit code. */
function idsOf(configFile: string, name: string, io: ControlIo): { pool: PoolConfig; ids: number[] } | number {
  const found = poolAndMembers(configFile, name, io);
  if (typeof found === 'number') return found;
  return { pool: found.pool, ids: found.members.map((i) => hashLo(found.pool.memberHashes[i]!)) };
}

export function runMarkUp(configFile: string, statePath: string, name: string, io: ControlIo): number {
  const found = idsOf(configFile, name, io);
  if (typeof found === 'number') return found;
  let was = 0;
  const code = changeState(found.pool, statePath, io, (_state, trouble) => {
    was = trouble.current.health.filter((h) => found.ids.includes(h.id) && h.down).length;
    trouble.replace(markUp(trouble.current, found.ids, Date.now()));
  });
  if (code !== EX.OK) return code;
  io.out(`${name}: up at full weight${was === 0 ? ' (it was not down)' : ''}\n`);
  io.logger.log('info', `${name}: marked up by ${describeUser(process.geteuid?.() ?? 0)} (state ${resolve(statePath)})`);
  return EX.OK;
}

export function runClearSuspension(configFile: string, statePath: string, name: string, destination: string | undefined, io: ControlIo): number {
  const found = idsOf(configFile, name, io);
  if (typeof found === 'number') return found;
  const dest = destination?.toLowerCase();
  let cleared = 0;
  const code = changeState(found.pool, statePath, io, (_state, trouble) => {
    const now = Date.now();
    const before = trouble.current.suspensions.filter((s) => s.untilMs > now).length;
    const next = clearSuspensions(trouble.current, found.ids, dest, now);
    cleared = before - next.suspensions.length;
    trouble.replace(next);
  });
  if (code !== EX.OK) return code;
  io.out(`${name}: ${cleared} suspension${cleared === 1 ? '' : 's'} cleared${dest ? ` for ${dest}` : ''}\n`);
  if (cleared > 0) io.logger.log('info', `${name}: suspensions${dest ? ` for ${dest}` : ''} cleared by ${describeUser(process.geteuid?.() ?? 0)} (state ${resolve(statePath)})`);
  return EX.OK;
}
