import { UserError } from "../config/errors.js";
import { Logger, streamSink } from "../log/logger.js";
import { LIFELINE_VERSION } from "../version.js";
import { UsageError } from "./args.js";
import { BACKUP_DB_HELP, backupDbCommand } from "./backup-db-command.js";
import { LIFECYCLE_HELP, lifecycleCommand } from "./lifecycle-command.js";
import { RESTORE_HELP, restoreCommand } from "./restore-command.js";
import { VERIFY_HELP, verifyCommand } from "./verify-command.js";

type Command = (
  argv: readonly string[],
  logger: Logger,
  signal: AbortSignal,
  out: NodeJS.WritableStream,
) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string; help: string }> = {
  "backup-db": {
    run: backupDbCommand,
    summary: "take a database backup (runbook: backup_db.sh)",
    help: BACKUP_DB_HELP,
  },
  verify: {
    run: verifyCommand,
    summary: "verify backups: checksums, decompression, gpg, age, test restore (runbook: verify_backup.sh)",
    help: VERIFY_HELP,
  },
  restore: {
    run: restoreCommand,
    summary: "list backups or restore one without risking the live database (runbook: restore_db.sh)",
    help: RESTORE_HELP,
  },
  lifecycle: {
    run: lifecycleCommand,
    summary: "print or apply the buckets' lifecycle policies (runbook: Configure lifecycle policy)",
    help: LIFECYCLE_HELP,
  },
};

const HELP = `Usage: lifeline <command> [options]

CI-native backups for PostgreSQL, the same engine as the Lifeline GitHub Actions.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`)
  .join("\n")}

Run 'lifeline <command> --help' for a command's options. Version ${LIFELINE_VERSION}.
`;

const EXIT_FAILURE = 1;
const EXIT_USAGE = 64;

/** Runs the CLI and returns its exit code. Logs go to stderr; results to stdout. */
export async function main(
  argv: readonly string[],
  io: { out: NodeJS.WritableStream; err: NodeJS.WritableStream } = {
    out: process.stdout,
    err: process.stderr,
  },
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out.write(HELP);
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === "--version") {
    io.out.write(`${LIFELINE_VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err.write(
      `lifeline: unknown command '${name}'. Expected one of: ${Object.keys(COMMANDS).join(", ")}\n`,
    );
    return EXIT_USAGE;
  }

  const logger = new Logger(streamSink(io.err));
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      // A second signal while cleaning up: the operator insists. Partial files are removed by the next run.
      process.exit(sig === "SIGINT" ? 130 : 143);
    }
    logger.warn(`Received ${sig}: stopping and cleaning up (send it again to exit at once)`);
    controller.abort(new Error(sig));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await command.run(rest, logger, controller.signal, io.out);
  } catch (err) {
    const message = logger.redact(err instanceof Error ? err.message : String(err));
    io.err.write(`lifeline ${name}: ${message}\n`);
    if (!(err instanceof UserError) && err instanceof Error && err.cause instanceof Error) {
      io.err.write(`  caused by: ${logger.redact(err.cause.message)}\n`);
    }
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
