import { destinationOf } from './classify.js';
import { DEFAULTS } from '../defaults.js';
import { quoteForLog } from '../log/format.js';
import type { FeedbackConfig } from '../config/types.js';
import type { Delivery, Verdict } from './types.js';

/**
 * Turns delivery verdicts into decisions about transports. Pure: the clock is
 * passed in with every observation, memory is bounded.
 *
 * Thresholds and durations come from postbal.cf (config/feedback-directives.ts,
 * defaults in DEFAULTS.feedback).
 * - Transport down: `downAfter` consecutive connection-level failures
 *   (reacting fast matters more than being clever: a stand-in that stopped
 *   after the third deferral cut 1,539 deferrals to 13). A failure to reach
 *   the next hop counts only for a transport whose next hop is fixed: for one
 *   that delivers to each recipient's MX, it is that destination's trouble
 *   (Postfix's dead-host cache handles it), else anyone could take the
 *   transport down by mailing three domains whose MX is dead. A failure on
 *   the source side (its address, its route) always counts. A delivery that
 *   reaches the next hop (sent, or any remote reply) ends the run and brings
 *   a down transport back up.
 * - Destination throttling or blocking: `suspendAfter` throttling verdicts
 *   for one (transport, destination) within `suspendWindowMs` suspend that
 *   transport for that destination only, for `suspendTtlMs`. Other
 *   destinations keep the transport. Mailbox-level replies count for nothing.
 */

/** What the engine decides on (postbal.cf's feedback_* directives). */
export type FeedbackSettings = Pick<FeedbackConfig, 'downAfter' | 'suspendAfter' | 'suspendWindowMs' | 'suspendTtlMs' | 'rampMs' | 'probeRise'>;

export type FeedbackEvent =
  | { readonly kind: 'down'; readonly service: string; readonly failures: number; readonly reason: string }
  /** Another connection failure of a transport already down (a failed trial): not logged, it only pushes the retry time. */
  | { readonly kind: 'failing'; readonly service: string; readonly failures: number }
  | { readonly kind: 'up'; readonly service: string; readonly rampMs: number; readonly via: 'delivery' | 'probe' }
  | { readonly kind: 'suspend'; readonly service: string; readonly destination: string; readonly untilMs: number; readonly reason: string };

/** (transport, destination) pairs watched for throttling at once; the oldest is forgotten first. */
const MAX_WATCHED = 10_000;
/** Providers, and domains per provider, remembered for sharing a provider's verdict. */
const MAX_PROVIDERS = 1000;
const MAX_DOMAINS_PER_PROVIDER = 32;

export class FeedbackEngine {
  readonly #settings: FeedbackSettings;
  readonly #fixedNextHop: ReadonlySet<string>;
  readonly #failures = new Map<string, number>();
  readonly #down = new Set<string>();
  readonly #probeSuccesses = new Map<string, number>();
  /** Provider -> domains seen hosted by it under other names (learned from relay= host names). */
  readonly #hosted = new Map<string, Set<string>>();
  /** Throttling times per `service destination`, oldest first; Map order = least recently touched first. */
  readonly #throttles = new Map<string, number[]>();
  readonly #suspendedUntil = new Map<string, number>();

  /** @param fixedNextHop the services whose next hop is fixed (servicesWithFixedNextHop) */
  constructor(settings: FeedbackSettings = DEFAULTS.feedback, fixedNextHop: ReadonlySet<string> = new Set()) {
    this.#settings = settings;
    this.#fixedNextHop = fixedNextHop;
  }

  /** One delivery made by `service`; @returns the decisions it triggers (usually none) */
  observe(service: string, delivery: Delivery, verdict: Verdict, nowMs: number): FeedbackEvent[] {
    const events: FeedbackEvent[] = [];
    // Neither breaks a run of the transport's own failures nor starts one.
    if (verdict === 'connection' && !this.#fixedNextHop.has(service)) return events;
    if (verdict === 'connection' || verdict === 'source') {
      const n = (this.#failures.get(service) ?? 0) + 1;
      this.#failures.set(service, n);
      if (this.#down.has(service)) events.push({ kind: 'failing', service, failures: n });
      else if (n >= this.#settings.downAfter) {
        this.#down.add(service);
        events.push({ kind: 'down', service, failures: n, reason: delivery.reason });
      }
      return events;
    }
    // Postfix's own reasons (DNS, local trouble) say nothing about the next hop.
    if (verdict === 'local') return events;
    events.push(...this.#learnHosting(delivery, nowMs));
    // Anything else reached the next hop: the connection works.
    this.#failures.delete(service);
    if (this.#down.delete(service)) events.push({ kind: 'up', service, rampMs: this.#settings.rampMs, via: 'delivery' });
    if (verdict === 'throttled') {
      const destination = destinationOf(delivery);
      const key = `${service} ${destination}`;
      if ((this.#suspendedUntil.get(key) ?? -Infinity) > nowMs) return events;
      const since = nowMs - this.#settings.suspendWindowMs;
      const times = (this.#throttles.get(key) ?? []).filter((t) => t > since);
      times.push(nowMs);
      this.#throttles.delete(key);
      if (times.length >= this.#settings.suspendAfter) {
        const untilMs = nowMs + this.#settings.suspendTtlMs;
        this.#suspendedUntil.set(key, untilMs);
        events.push({ kind: 'suspend', service, destination, untilMs, reason: delivery.reason });
        // Domains seen hosted by this provider under other names share its verdict.
        for (const domain of this.#hosted.get(destination) ?? []) {
          this.#suspendedUntil.set(`${service} ${domain}`, untilMs);
          events.push({ kind: 'suspend', service, destination: domain, untilMs, reason: `hosted by ${destination}: ${delivery.reason}` });
        }
      } else {
        this.#throttles.set(key, times);
        if (this.#throttles.size > MAX_WATCHED) this.#throttles.delete(this.#throttles.keys().next().value!);
      }
      this.#forgetExpired(nowMs);
    }
    return events;
  }

  /**
   * Remembers which domains a provider hosts under other names (bounded), and
   * extends a suspension in force for the provider to such a domain when it is
   * first seen hosted there (by any transport's delivery: that shows where it
   * is hosted).
   */
  #learnHosting(delivery: Delivery, nowMs: number): FeedbackEvent[] {
    const provider = destinationOf(delivery);
    const domain = delivery.domain;
    if (provider === domain || domain === '' || domain.endsWith(`.${provider}`)) return [];
    let domains = this.#hosted.get(provider);
    if (domains?.has(domain)) return [];
    if (!domains) {
      if (this.#hosted.size >= MAX_PROVIDERS) this.#hosted.delete(this.#hosted.keys().next().value!);
      domains = new Set();
      this.#hosted.set(provider, domains);
    }
    if (domains.size >= MAX_DOMAINS_PER_PROVIDER) return [];
    domains.add(domain);
    const events: FeedbackEvent[] = [];
    for (const [key, untilMs] of this.#suspendedUntil) {
      const space = key.indexOf(' ');
      if (key.slice(space + 1) !== provider || untilMs <= nowMs) continue;
      const service = key.slice(0, space);
      this.#suspendedUntil.set(`${service} ${domain}`, untilMs);
      events.push({ kind: 'suspend', service, destination: domain, untilMs, reason: `hosted by ${provider}, which throttles ${service}` });
    }
    return events;
  }

  /**
   * One probe of a transport that is down: `probeRise` answered in a row
   * bring it back up; a failed one starts the count again.
   */
  probed(service: string, ok: boolean): FeedbackEvent[] {
    if (!this.#down.has(service)) return [];
    const n = ok ? (this.#probeSuccesses.get(service) ?? 0) + 1 : 0;
    this.#probeSuccesses.set(service, n);
    if (n < this.#settings.probeRise) return [];
    this.#probeSuccesses.delete(service);
    this.#down.delete(service);
    this.#failures.delete(service);
    return [{ kind: 'up', service, rampMs: this.#settings.rampMs, via: 'probe' }];
  }

  /** Transports currently taken to be down. */
  get down(): readonly string[] {
    return [...this.#down];
  }

  #forgetExpired(nowMs: number): void {
    if (this.#suspendedUntil.size <= MAX_WATCHED) return;
    for (const [key, until] of this.#suspendedUntil) if (until <= nowMs) this.#suspendedUntil.delete(key);
  }
}

/** One line for the log, e.g. `smtp2: down after 3 connection failures: "connect to …: Connection refused"` (the reason quoted: it is partly a remote's text). */
export function describeEvent(e: FeedbackEvent): string {
  switch (e.kind) {
    case 'down': return `${e.service}: down after ${e.failures} connection failures: ${quoteForLog(e.reason)}`;
    case 'failing': return `${e.service}: still failing (${e.failures} connection failures in a row)`;
    case 'up': return `${e.service}: up (${e.via === 'probe' ? 'its next hop answered probes with 220' : 'a delivery reached its next hop'}), ramping to full weight over ${e.rampMs / 1000}s`;
    case 'suspend': return `${e.service}: suspended for ${e.destination} until ${new Date(e.untilMs).toISOString()}: ${quoteForLog(e.reason)}`;
    default: {
      const unreachable: never = e;
      return unreachable;
    }
  }
}
