import type { PhpParams, Verdict } from '../bitrix24-semantics';

/**
 * What one Bitrix24 method adds to the generic pipeline: only what is that method's own. Everything the
 * spec says of it (paths, parameters, their order, limits, error matrix, examples) is read from the spec,
 * where its operations name it in `x-bitrix24-method`.
 */
export interface Bitrix24Method {
  /** The REST method, as the spec's `x-bitrix24-method` names it. */
  name: string;
  /** The server upper-cases the parameters' keys before it reads them (`chat_id` is `CHAT_ID` to it). */
  upperCasesKeys: boolean;
  /**
   * The server's checks of the parameters, in its order, after its authorization-type check: the first
   * failing one is the answer. `params` are as PHP sees them, keys already upper-cased where the server
   * does that.
   */
  check(params: PhpParams): Verdict;
  /** Why `check` rejected the request with `code`, naming the parameter (the text after Bitrix24's own). */
  explain(code: string, params: PhpParams, sent: Readonly<Record<string, unknown>>): string;
  /**
   * The parameters to forward for a request the gateway accepted, from the schema's reading of it (defaults
   * applied): the documented meaning made explicit where the server would read it otherwise.
   */
  normalise?(request: Record<string, unknown>): Record<string, unknown>;
  /**
   * The emulator's test values for the method's own steps (`CHAT_ID` → the code it answers), as the spec's
   * table of test values lists them.
   */
  testValues: Readonly<Record<number, string>>;
  /** The emulator: the server's steps after `check` passed. A code answers that error; undefined, success. */
  emulate(call: EmulatedCall): string | undefined;
}

/** A call that reached a method's own steps in the emulator. */
export interface EmulatedCall {
  params: PhpParams;
  /** How the caller authenticated: an OAuth token belongs to an application, a webhook names its bot. */
  auth: 'webhook' | 'oauth';
  /** `(int)CHAT_ID`, for the emulator's test values. */
  testValue: number;
}
