/**
 * Warm-up under a real Postfix: 2,000 messages through transport_maps with
 * smtp2 in stage 1 of warmup=100,... It delivers its cap of 100 (the
 * spawned postbal runs at 23:00 by libfaketime, when pacing opens the whole
 * cap), smtp0 and smtp1 deliver the rest, nothing is deferred or bounced.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PostfixLab, postfixUnavailable } from './lab.js';
import { FAKETIME, faketimeUnavailable } from '../helpers/faketime.js';

const MESSAGES = 2000;

test('warm-up through Postfix: 2,000 messages, smtp2 at stage 1 (cap 100) delivers its cap and no more (the sender out of scope), smtp0 and smtp1 the rest, nothing deferred', { timeout: 300_000 }, async (t) => {
  if (postfixUnavailable(t)) return;
  if (faketimeUnavailable(t, 'WARM-UP POSTFIX TEST')) return;
  // The clock file is there before Postfix starts a postbal (a value with a space cannot go in master.cf).
  const clockDir = mkdtempSync('/tmp/postbal-clock-');
  chmodSync(clockDir, 0o755);
  const stamp = join(clockDir, 'faketime');
  writeFileSync(stamp, '@2026-06-01 23:00:00\n');
  chmodSync(stamp, 0o644);
  const lab = await PostfixLab.start({
    mapLines: ['transport_maps = PBMAP'],
    // The sender's domain out of scope, as the README advises: a sender's answer delivers nothing, and would spend the cap.
    pool: 'match = !lab.test\n{1}smtp0:[127.0.0.1]:SINKPORT\n{1}smtp1:[127.0.0.1]:SINKPORT\n{1}smtp2:[127.0.0.1]:SINKPORT warmup=100,200,400\n',
    // spawn(8) passes no environment through; env(1) sets it for postbal alone (the wall clock only: helpers/faketime.ts).
    argvPrefix: ['/usr/bin/env', 'TZ=UTC', `LD_PRELOAD=${FAKETIME}`, `FAKETIME_TIMESTAMP_FILE=${stamp}`, 'FAKETIME_DONT_FAKE_MONOTONIC=1'],
  });
  try {
    lab.inject(MESSAGES);
    const d = await lab.waitDelivered(MESSAGES);
    const by = (n: string): number => d.sent.get(n) ?? 0;
    t.diagnostic(`${d.sentTotal} sent, ${d.deferred} deferred, ${d.bounced} bounced; smtp0 ${by('smtp0')}, smtp1 ${by('smtp1')}, smtp2 ${by('smtp2')}`);
    assert.equal(d.sentTotal, MESSAGES);
    assert.equal(d.deferred, 0, 'a cap never defers mail while another transport can take it');
    assert.equal(d.bounced, 0);
    assert.ok(by('smtp2') <= 100, `smtp2 delivered ${by('smtp2')}, over its cap of 100`);
    // Each recipient is counted once (qmgr's second lookup repeats smtpd's answer), so the whole cap is delivered.
    assert.ok(by('smtp2') >= 99, `smtp2 delivered only ${by('smtp2')} of its 100`);
    assert.ok(Math.abs(by('smtp0') - by('smtp1')) <= 0.02 * MESSAGES, 'the others share the rest at their weights');
    const st = lab.control(['status', '--json']);
    const report = JSON.parse(st.stdout) as { warmup: { transport: string; stage: number; today: number; cap: number }[] };
    t.diagnostic(JSON.stringify(report.warmup));
    // status runs on the real clock, a later day than the faked one: that day gave >= 90% of its cap, so stage 2.
    assert.equal(report.warmup[0]!.stage, 2);
    assert.equal(report.warmup[0]!.cap, 200);
  } finally {
    lab.stop();
    rmSync(clockDir, { recursive: true, force: true });
  }
});
