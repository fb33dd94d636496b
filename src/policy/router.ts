import { pickSmoothWrr } from '../balance/algorithms/wrr.js';
import { encodePolicyAction } from '../protocol/policy.js';
import { PolicyBackend, type BackendSpec } from './backend.js';

/**
 * Which policy service answers a request: the best priority group with a
 * service not tripped, smooth weighted round robin within it (priorities are
 * numbers: 5 before 10, unlike hapolicy's string sort), the next service and
 * then the next group on failure, the default action when none answers.
 *
 * A circuit breaker per service: one that failed is skipped for `breakerMs`
 * instead of costing its timeout on every request; after that one request
 * tries it again, and it is back when it answers.
 */
export interface RouterOptions {
  /** The action when no service answers (hapolicy's -d; default dunno). */
  readonly defaultAction: string;
  /** How long a failed service is skipped. */
  readonly breakerMs: number;
  readonly log: (level: 'info' | 'warning', message: string) => void;
  readonly nowMs?: () => number;
}

export class PolicyRouter {
  readonly #backends: PolicyBackend[];
  readonly #opts: RouterOptions;
  readonly #current: number[];
  readonly #trippedUntil: number[];
  #allDown = false;
  readonly #weights: readonly number[];
  /** Distinct priorities, best first (as numbers). */
  readonly #priorities: readonly number[];

  constructor(specs: readonly BackendSpec[], opts: RouterOptions) {
    this.#backends = specs.map((s) => new PolicyBackend(s));
    this.#opts = opts;
    this.#current = specs.map(() => 0);
    this.#trippedUntil = specs.map(() => 0);
    this.#weights = specs.map((s) => s.weight);
    this.#priorities = [...new Set(specs.map((s) => s.priority))].sort((a, b) => a - b);
  }

  /** The services to try for one request, in order. */
  #order(nowMs: number): number[] {
    const weights = this.#weights;
    const order: number[] = [];
    for (const p of this.#priorities) {
      const usable = (i: number): boolean => this.#backends[i]!.spec.priority === p && this.#trippedUntil[i]! <= nowMs && !order.includes(i);
      // The round robin's pick first, then the rest of the group by weight.
      const first = pickSmoothWrr(weights, this.#current, usable);
      if (first < 0) continue;
      order.push(first);
      const rest = this.#backends.map((_, i) => i).filter(usable).sort((a, b) => weights[b]! - weights[a]!);
      order.push(...rest);
    }
    return order;
  }

  /** The reply for one request: a service's, verbatim, or the default action. */
  async route(raw: Buffer): Promise<Buffer> {
    const now = this.#opts.nowMs ?? Date.now;
    for (const i of this.#order(now())) {
      const b = this.#backends[i]!;
      try {
        const reply = await b.ask(raw);
        if (this.#trippedUntil[i]! > 0) {
          this.#trippedUntil[i] = 0;
          this.#opts.log('info', `policy service ${b.spec.name} (${b.spec.host}:${b.spec.port}) answers again`);
        }
        if (this.#allDown) {
          this.#allDown = false;
          this.#opts.log('info', 'policy: a service answers again; default action no longer in use');
        }
        return reply;
      } catch (err) {
        const first = this.#trippedUntil[i] === 0;
        this.#trippedUntil[i] = now() + this.#opts.breakerMs;
        if (first) this.#opts.log('warning', `policy service ${b.spec.name} (${b.spec.host}:${b.spec.port}) failed: ${(err as Error).message}; skipped for ${this.#opts.breakerMs / 1000}s at a time until it answers`);
      }
    }
    if (!this.#allDown) {
      this.#allDown = true;
      this.#opts.log('warning', `policy: no service answers; answering "action=${this.#opts.defaultAction}" until one does`);
    }
    return encodePolicyAction(this.#opts.defaultAction);
  }

  close(): void {
    for (const b of this.#backends) b.close();
  }
}
