import * as core from "@actions/core";
import { credentialsIn } from "../../config/backup-db-config.js";
import {
  environmentLookup,
  firstOf,
  type SettingLookup,
  type SettingNames,
  withNames,
} from "../../config/settings.js";
import { type LogSink, MIN_SECRET_LENGTH } from "../../log/logger.js";
import { CancelledError, UserError } from "../../shared/errors.js";

/**
 * Text for the runner's log that the runner cannot read as a workflow command. core.info writes its
 * text raw (core.debug/warning/error escape theirs as command data, CR and LF as %0D/%0A), and the
 * runner reads a command from any line that starts with `::` after leading space, or that holds a
 * legacy `##[` anywhere; a name from a manifest or the catalog may carry a newline and such a line.
 * Decision: every line of the message is kept (no %0A escaping, which would make ordinary multi-line
 * messages unreadable); a line starting with `::` is prefixed with `| `, and `##[` is written `# #[`.
 */
export function inertLogText(message: string): string {
  return message
    .split(/\r\n|\r|\n/)
    .map((line) => {
      const text = line.replaceAll("##[", "# #[");
      return text.trimStart().startsWith("::") ? `| ${text}` : text;
    })
    .join("\n");
}

/** Log lines into the runner's log, warnings and errors as annotations; never a workflow command. */
export function actionsLogSink(): LogSink {
  return {
    write(level, message) {
      if (level === "debug") core.debug(message);
      else if (level === "warn") core.warning(message);
      else if (level === "error") core.error(message);
      else core.info(inertLogText(message));
    },
  };
}

/** An action's names: its inputs (kebab-case, as in action.yml) and the runbook's environment variables. */
export const ACTION_NAMES: SettingNames = {
  name: (spec) => `input '${spec.input}'`,
  ways: (spec) => `the input '${spec.input}' or the environment variable ${spec.env}`,
  label: (spec) => `${spec.env} (input '${spec.input}')`,
  enable: (spec) => `set the input '${spec.input}' to true`,
};

/**
 * Input first; when empty, the runbook's environment variable. Errors name settings the action's way
 * (ACTION_NAMES), whichever of the two a value came from.
 */
export function actionLookup(env: NodeJS.ProcessEnv = process.env): SettingLookup {
  const inputs = withNames(ACTION_NAMES, (spec) => {
    const value = core.getInput(spec.input);
    return value === "" ? undefined : { value, source: ACTION_NAMES.name(spec) };
  });
  return firstOf(inputs, environmentLookup(env, ACTION_NAMES));
}

/**
 * Masks every secret a run may meet before anything is logged: for the runner's log, and in the
 * engine's logger too, whose lines also reach BACKUP_DIR/logs. A secret shorter than MIN_SECRET_LENGTH
 * is not masked (it would blank that text everywhere): a warning says so.
 */
export function maskConnectionSecrets(
  lookup: SettingLookup,
  logger?: { addSecret(secret: string): void },
): void {
  for (const secret of credentialsIn(lookup)) {
    if (secret.length < MIN_SECRET_LENGTH) {
      core.warning(
        `A password or secret of ${secret.length} character(s) can't be masked in logs (masking needs at least ${MIN_SECRET_LENGTH}); use a longer one`,
      );
      continue;
    }
    core.setSecret(secret);
    logger?.addSecret(secret);
  }
}

/**
 * An AbortSignal raised when the runner cancels the job (SIGINT, then SIGTERM); its reason is the
 * first signal's CancelledError, which sets the exit status (130 or 143).
 */
export function cancellationSignal(): AbortSignal {
  const controller = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      if (!controller.signal.aborted) controller.abort(new CancelledError(sig));
    });
  }
  return controller.signal;
}

/** The message to fail the step with: user errors as they are, anything else with its cause chain. */
export function failureMessage(err: unknown): string {
  if (err instanceof UserError) return err.message;
  const parts: string[] = [];
  let current: unknown = err;
  while (current instanceof Error && parts.length < 4) {
    parts.push(current.message);
    current = current.cause;
  }
  return parts.length ? parts.join(" — caused by: ") : String(err);
}
