import { metricsDestination } from "../config/metrics-config.js";
import { environmentLookup } from "../config/settings.js";
import { Logger, streamSink } from "../log/logger.js";
import { recordFailedRun } from "../metrics/failed-run.js";
import { cancellationOf, EXIT, exitStatusOf } from "../process/exit-status.js";
import { CancelledError, type StopSignal, UserError } from "../shared/errors.js";
import { LIFELINE_VERSION } from "../version.js";
import { BACKUP_DB_HELP, backupDbCommand } from "./backup-db-command.js";
import { BACKUP_MEDIA_HELP, backupMediaCommand } from "./backup-media-command.js";
import { LIFECYCLE_HELP, lifecycleCommand } from "./lifecycle-command.js";
import { RESTORE_HELP, restoreCommand } from "./restore-command.js";
import type { Command, RunRecord } from "./run-record.js";
import { VERIFY_HELP, verifyCommand } from "./verify-command.js";

const COMMANDS: Record<string, { run: Command; summary: string; help: string; metrics?: RunRecord["kind"] }> =
  {
    "backup-db": {
      run: backupDbCommand,
      metrics: "backup",
      summary: "take a database backup (runbook: backup_db.sh)",
      help: BACKUP_DB_HELP,
    },
    "backup-media": {
      run: backupMediaCommand,
      metrics: "backup",
      summary: "take an incremental snapshot of the media directory (runbook: backup_media.sh)",
      help: BACKUP_MEDIA_HELP,
    },
    verify: {
      run: verifyCommand,
      metrics: "verify",
      summary: "verify backups: checksums, decompression, gpg, age, test restore (runbook: verify_backup.sh)",
      help: VERIFY_HELP,
    },
    restore: {
      run: restoreCommand,
      metrics: "restore",
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

CI-native backups for PostgreSQL and a media directory, the same engine as the Lifeline GitHub Actions.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`)
  .join("\n")}

Run 'lifeline <command> --help' for a command's options. Version ${LIFELINE_VERSION}.

Exit status: 0 success; 1 failed; 2 verify: backups too old or missing; 64 invalid usage; 78 invalid
configuration; 130 cancelled by SIGINT; 143 cancelled by SIGTERM.
`;

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
    return name === undefined ? EXIT.usage : 0;
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
    return EXIT.usage;
  }

  const logger = new Logger(streamSink(io.err));
  const controller = new AbortController();
  const onSignal = (sig: StopSignal) => {
    if (controller.signal.aborted) {
      // A second signal while cleaning up: the operator insists. Partial files are removed by the next run.
      process.exit(sig === "SIGINT" ? EXIT.sigint : EXIT.sigterm);
    }
    logger.warn(`Received ${sig}: stopping and cleaning up (send it again to exit at once)`);
    controller.abort(new CancelledError(sig));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const startedAt = new Date();
  // Read before anything else can fail, from the environment; the command refines it with its flags.
  const record: RunRecord = {
    kind: command.metrics,
    settings: metricsDestination(environmentLookup(process.env)),
  };
  try {
    const status = await command.run(rest, logger, controller.signal, io.out, record);
    // A cancelled run is never a success, even when the command got to its end.
    if (controller.signal.aborted) throw controller.signal.reason;
    return status;
  } catch (err) {
    const status = exitStatusOf(err, controller.signal);
    const cancelled = cancellationOf(err, controller.signal);
    const message = logger.redact(err instanceof Error ? err.message : String(err));
    io.err.write(`lifeline ${name}: ${message}\n`);
    if (cancelled && !/cancelled/i.test(message)) {
      io.err.write(`lifeline ${name}: cancelled by ${cancelled.signalName}\n`);
    } else if (!(err instanceof UserError) && err instanceof Error && err.cause instanceof Error) {
      io.err.write(`  caused by: ${logger.redact(err.cause.message)}\n`);
    }
    // Every failed run is recorded, so that BackupFailed fires now rather than BackupTooOld a day later.
    if (record.kind)
      await recordFailedRun(
        record.settings,
        record.kind,
        { startedAt, exitStatus: status },
        logger,
        record.type,
      );
    return status;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
