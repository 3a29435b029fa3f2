// Holding the authorization server's answers: the token requests are processed (a refresh token spent, a new
// pair minted) but their answers wait, to be sent (`release`) or lost with their connection (`cut`). This is
// how tests make a refresh whose answer never arrives, or two refreshes overlap.
import type { TokenHold } from './types';

/** One held answer: how to send it, and how to drop its connection instead. */
export interface HeldAnswer {
  send(): void;
  cut(): void;
}

/** At most this many answers are held; past it a request's connection is cut at once (a test gone wrong). */
export const MAX_HELD = 1_000;

export class Hold implements TokenHold {
  #answers: HeldAnswer[] = [];
  #waiters: { count: number; resolve: () => void; reject: (error: Error) => void }[] = [];
  #ended = false;

  /** `onEnd` is told when the hold is released or cut, so that new answers go out again. */
  constructor(private readonly onEnd: (hold: Hold) => void) {}

  get held(): number {
    return this.#answers.length;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Keeps an answer back (or cuts it when the hold is full). */
  add(answer: HeldAnswer): void {
    if (this.#answers.length >= MAX_HELD) {
      answer.cut();
      return;
    }
    this.#answers.push(answer);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.#answers.length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  waiting(count = 1, timeoutMs = 5_000): Promise<void> {
    if (this.#answers.length >= count) return Promise.resolve();
    if (this.#ended) return Promise.reject(new Error('The hold has ended'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((waiter) => waiter !== entry);
        reject(new Error(`${this.#answers.length} token answers held after ${timeoutMs} ms, not ${count}`));
      }, timeoutMs);
      const entry = {
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.#waiters.push(entry);
    });
  }

  release(): void {
    for (const answer of this.#end()) answer.send();
  }

  cut(): void {
    for (const answer of this.#end()) answer.cut();
  }

  #end(): HeldAnswer[] {
    const answers = this.#answers;
    this.#answers = [];
    if (!this.#ended) {
      this.#ended = true;
      this.onEnd(this);
    }
    for (const waiter of this.#waiters.splice(0))
      waiter.reject(new Error('The hold ended before enough answers were held'));
    return answers;
  }
}
