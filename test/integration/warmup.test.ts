/**
 * Warm-up caps through the built binary over a simulated month (libfaketime
 * sets each instance's wall clock; TZ=Europe/Berlin, across the change to
 * summer time): every day's count within its cap and, under steady traffic,
 * at least 90% of it; stages advance after full days, repeat after short
 * ones, ignore days without traffic; 4 concurrent instances never pass a
 * cap; a restart and a SIGKILL mid-day keep the count; a clock stepped back
 * frees nothing; postbal status and warmup-stage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { BIN, Interactive, runPostbal, tempDir } from '../helpers/postbal.js';
import { at, faketimeUnavailable } from '../helpers/faketime.js';

const TZ = 'Europe/Berlin';
/** 20 stages growing about x1.2 a day (SendGrid's pace), scaled down. */
const SCHEDULE = [10, 12, 15, 18, 22, 26, 31, 37, 45, 54, 65, 78, 94, 113, 135, 162, 195, 234, 281, 337];
/** smtp3 warms; at 9:1 it would take 90% of the keys uncapped. */
const POOL = `{1}smtp0:\n{9}smtp3: warmup=${SCHEDULE.join(',')}\n`;
/** On day 15 the config is edited (a transport added): smtp3 keeps its stage and today's count. */
const EDITED = `${POOL}{1}smtp5:\n`;
const HOURS = ['06:00:00', '12:00:00', '18:00:00', '23:00:00'];

let serial = 0;
const keys = (n: number): string => Array.from({ length: n }, () => `get r${serial++}@example.com\n`).join('');
const count = (out: string, transport: string): number => out.split(`200 ${transport}\n`).length - 1;

function statusJson(cfg: string, state: string, env: NodeJS.ProcessEnv): { warmup: { stage: number; today: number; cap: number | null; warmed: boolean; since: string | null }[]; transports: { capped: boolean }[] } {
  const r = spawnSync(process.execPath, [BIN, 'status', '--json', '-c', cfg, '-s', state], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof statusJson>;
}

/** A pool file and a state path in a temporary directory, and the arguments that serve them. */
function setup(pool: string): { cfg: string; state: string; args: string[]; stage: (transport: string, stage: string, env: NodeJS.ProcessEnv) => SpawnSyncReturns<string>; cleanup: () => void } {
  const d = tempDir();
  const cfg = d.file('p.cf', pool);
  const state = join(d.dir, 'state');
  return {
    cfg, state, args: ['-c', cfg, '-s', state, '--syslog', 'none'], cleanup: d.cleanup,
    stage: (transport, stage, env) => spawnSync(process.execPath, [BIN, 'warmup-stage', '-c', cfg, '-s', state, '--syslog', 'none', transport, stage], { encoding: 'utf8', env }),
  };
}

test('warm-up over a simulated month: caps held each day, >= 90% under steady traffic; stages advance, repeat after a short day, ignore a day without traffic', { timeout: 300_000 }, async (t) => {
  if (faketimeUnavailable(t, 'WARM-UP MONTH TEST')) return;
  const d = tempDir();
  try {
    const cfg = d.file('p.cf', POOL);
    const state = join(d.dir, 'state');
    // Day kinds: full traffic (1,000 keys over four times of day), short (20 keys at noon), none.
    const plan: ('full' | 'short' | 'none')[] = ['full', 'full', 'short', 'none', 'full', 'short', 'full', 'none', 'none', 'full', 'full'];
    while (plan.length < 31) plan.push('full');
    let fullDays = 0;
    const rows: string[] = [];
    for (let day = 0; day < plan.length; day++) {
      const date = `2026-03-${String(day + 1).padStart(2, '0')}`;
      const stage = Math.min(fullDays, SCHEDULE.length);
      const cap = SCHEDULE[stage];
      let smtp3 = 0;
      let asked = 0;
      const runs = plan[day] === 'full' ? HOURS.map((h) => [h, 250] as const) : plan[day] === 'short' ? [['12:00:00', 20] as const] : [];
      for (const [hour, n] of runs) {
        if (day === 14 && hour === '12:00:00') writeFileSync(cfg, EDITED);
        const r = await runPostbal(['-c', cfg, '-s', state, '--syslog', 'none'], keys(n), { env: at(`${date} ${hour}`, TZ) });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(count(r.stdout, 'smtp3:') + count(r.stdout, 'smtp0:') + count(r.stdout, 'smtp5:'), n, 'every key answered');
        smtp3 += count(r.stdout, 'smtp3:');
        asked += n;
      }
      rows.push(`${date} ${plan[day]} stage ${stage + 1}: smtp3 ${smtp3}/${cap ?? '-'}`);
      if (cap === undefined) {
        // Warmed: no cap, the weights alone (9 of 11 since the edit).
        assert.ok(Math.abs(smtp3 - (asked * 9) / 11) <= 2, `${date}: warmed, ${smtp3} of ${asked} at 1:9:1`);
      } else {
        assert.ok(smtp3 <= cap, `${date}: ${smtp3} over the cap ${cap} of stage ${stage + 1}`);
        if (plan[day] === 'full') assert.ok(smtp3 >= 0.9 * cap, `${date}: steady traffic reached only ${smtp3} of ${cap}`);
        if (plan[day] === 'short') assert.equal(smtp3, Math.min(18, Math.floor((cap * 13) / 20)), `${date}: a short day gets its share (18) up to noon's pacing`);
      }
      if (plan[day] === 'full') fullDays++;
      if (day === 2) {
        const s = statusJson(cfg, state, at(`${date} 13:00:00`, TZ));
        assert.deepEqual([s.warmup[0]!.stage, s.warmup[0]!.today, s.warmup[0]!.cap], [3, smtp3, SCHEDULE[2]], 'status: stage, today, cap');
        assert.match(s.warmup[0]!.since ?? '', /^2026-03-01T0[45]:00/);
      }
    }
    t.diagnostic(rows.join('\n'));
    assert.equal(fullDays > SCHEDULE.length, true, 'the month warmed the transport');
    const s = statusJson(cfg, state, at('2026-04-01 12:00:00', TZ));
    assert.equal(s.warmup[0]!.warmed, true);
  } finally {
    d.cleanup();
  }
});

test('warm-up: 4 instances at once never pass a cap; a restart and a SIGKILL mid-day keep the count; the clock stepped back frees nothing; warmup-stage', { timeout: 120_000 }, async (t) => {
  if (faketimeUnavailable(t, 'WARM-UP CONCURRENCY TEST')) return;
  const { cfg, state, args, stage, cleanup } = setup('{1}smtp0:\n{1}smtp3: warmup=100,200\n');
  try {
    // 23:00: the whole cap is open; 4 instances ask 400 keys at once, 200 of them would go to smtp3.
    const four = await Promise.all([0, 1, 2, 3].map(() => runPostbal(args, keys(100), { env: at('2026-05-04 23:00:00', TZ) })));
    assert.equal(four.reduce((n, r) => n + count(r.stdout, 'smtp3:'), 0), 100, `exactly the cap across 4 instances: ${four.map((r) => `${count(r.stdout, 'smtp3:')} ${r.stderr}`).join(' / ')}`);
    // Next day, 12:00: 65% of 200 is open. An instance is killed in the middle; the next goes on from its count.
    const env = at('2026-05-05 12:00:00', TZ);
    const p = new Interactive(args, { env });
    let smtp3 = 0;
    for (let i = 0; i < 60; i++) if ((await p.ask(`get k${i}@x`)) === '200 smtp3:') smtp3++;
    await p.kill();
    const after = await runPostbal(args, keys(400), { env });
    smtp3 += count(after.stdout, 'smtp3:');
    assert.equal(smtp3, 130, 'stage 2 by noon: 65% of 200, across a SIGKILL and a restart');
    // The clock steps back to the previous day: the count stays on the later day, no cap is freed.
    const back = await runPostbal(args, keys(100), { env: at('2026-05-04 23:30:00', TZ) });
    assert.ok(count(back.stdout, 'smtp3:') <= 70, `after the clock went back: ${count(back.stdout, 'smtp3:')} more (at most the rest of the later day's 200)`);
    const st = statusJson(cfg, state, env);
    assert.equal(st.transports[1]!.capped, true);
    // warmup-stage: back to stage 1 (whose cap today's count already passes), then warmed.
    const set = stage('smtp3', '1', env);
    assert.equal(set.status, 0, set.stderr);
    assert.match(set.stdout, /warm-up stage of smtp3: set to 1/);
    assert.equal(count((await runPostbal(args, keys(20), { env })).stdout, 'smtp3:'), 0, 'stage 1 cap already used today');
    assert.equal(stage('smtp3', 'warmed', env).status, 0);
    assert.equal(count((await runPostbal(args, keys(20), { env })).stdout, 'smtp3:'), 10, 'warmed: no cap, 1:1');
    const bad = stage('smtp0', '2', env);
    assert.equal(bad.status, 64);
    assert.match(bad.stderr, /"smtp0" has no warmup= schedule; warming transports: smtp3:/);
    const range = stage('smtp3', '9', env);
    assert.equal(range.status, 64);
    assert.match(range.stderr, /STAGE: expected 1 to 3 .*got "9"/);
  } finally {
    cleanup();
  }
});

test('warm-up: a key\'s second lookup keeps its answer while the transport is capped (it was counted once), and repeats do not count', async (t) => {
  if (faketimeUnavailable(t, 'WARM-UP REPEAT TEST')) return;
  const { cfg, state, args, cleanup } = setup('{1}smtp0:\n{1}smtp3: warmup=3\n');
  try {
    const env = at('2026-06-01 23:00:00', TZ);
    const input = Array.from({ length: 12 }, (_, i) => `get same${i}@example.com\n`).join('');
    const first = await runPostbal(args, input, { env });
    assert.equal(count(first.stdout, 'smtp3:'), 3, 'the cap');
    const second = await runPostbal(args, input, { env });
    assert.equal(second.stdout, first.stdout, 'qmgr\'s lookup gets smtpd\'s answer, capped or not');
    const st = statusJson(cfg, state, env);
    assert.equal(st.warmup[0]!.today, 3, 'repeats are not counted');
  } finally {
    cleanup();
  }
});

test('warm-up per provider: gmail.com and googlemail.com share one count, other domains another; each advances on its own', async (t) => {
  if (faketimeUnavailable(t, 'WARM-UP PROVIDER TEST')) return;
  const { cfg, state, args, cleanup } = setup('{1}smtp0:\n{1}smtp3: warmup=10,20\nwarmup_provider = gmail.com googlemail.com\n');
  try {
    const env = at('2026-07-01 23:00:00', TZ);
    const to = (domain: string, n: number): string => Array.from({ length: n }, () => `get p${serial++}@${domain}\n`).join('');
    const google = await runPostbal(args, to('gmail.com', 30) + to('GoogleMail.com', 30), { env });
    assert.equal(count(google.stdout, 'smtp3:'), 10, 'one cap for the provider\'s domains together');
    const other = await runPostbal(args, to('other.example', 6) + to('mx.other.example', 2), { env });
    assert.equal(count(other.stdout, 'smtp3:'), 4, 'other domains are counted apart (a short day: 4 of 10)');
    const sub = await runPostbal(args, to('mail.gmail.com', 4), { env });
    assert.equal(count(sub.stdout, 'smtp3:'), 0, 'a subdomain belongs to its provider, capped');
    const next = at('2026-07-02 23:00:00', TZ);
    const st = statusJson(cfg, state, next) as unknown as { warmup: { provider: string | null; stage: number; cap: number }[] };
    assert.deepEqual(st.warmup.map((w) => [w.provider, w.stage, w.cap]), [[null, 1, 10], ['gmail.com googlemail.com', 2, 20]]);
    const day2 = await runPostbal(args, to('gmail.com', 60) + to('other.example', 60), { env: next });
    assert.equal(count(day2.stdout, 'smtp3:'), 30, 'stage 2 for the provider (20), stage 1 again for the rest (10)');
  } finally {
    cleanup();
  }
});
