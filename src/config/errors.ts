/**
 * An error the operator can fix: it names the input, what was wrong and what to do next.
 * Adapters print its message alone (no stack), and exit non-zero.
 */
export class UserError extends Error {
  override readonly name: string = "UserError";
}

/** Invalid configuration: a setting is missing or malformed. */
export class ConfigError extends UserError {
  override readonly name = "ConfigError";
}
