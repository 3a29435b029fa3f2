// What the configuration says is wrong with an environment, for the configuration's tests.
import { ConfigError, loadConfig } from '../config';

/** The problems loadConfig names for `env` (nothing wrong: []). */
export function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}
