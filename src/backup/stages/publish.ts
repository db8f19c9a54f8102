import {
  type BackupManifest,
  CHECKSUM_SUFFIX,
  checksumLine,
  MANIFEST_SUFFIX,
  MANIFEST_VERSION,
} from "../../catalog/manifest.js";
import { publishWithCompanions } from "../../fs/atomic-file.js";
import { UserError } from "../../shared/errors.js";
import { LIFELINE_VERSION } from "../../version.js";
import type { BackupRun } from "./context.js";
import type { Dumped } from "./dump.js";
import type { Preflight } from "./preflight.js";

/** A backup under its final name, beside its manifest and sidecar, its uploads let finish. */
export interface Published {
  readonly file: string;
  readonly manifestFile: string;
  readonly sidecarFile: string;
  readonly manifest: BackupManifest;
  readonly finishedAt: Date;
  readonly durationSeconds: number;
}

/**
 * The fourth stage: the manifest and sidecar are written, then the data gets its final name beside
 * them (a backup never exists under its final name without them; if either cannot be written nothing
 * of this backup is left), and only then may the uploads store their objects.
 */
export async function publish(run: BackupRun, plan: Preflight, dumped: Dumped): Promise<Published> {
  const { logger, startedAt } = run;
  const { file, outgoing } = dumped;
  const finishedAt = run.now();
  const durationSeconds = Math.max(0.001, (finishedAt.getTime() - startedAt.getTime()) / 1000);
  const manifest = manifestOf(run, plan, dumped, finishedAt, durationSeconds);
  const manifestFile = `${file}${MANIFEST_SUFFIX}`;
  const sidecarFile = `${file}${CHECKSUM_SUFFIX}`;
  try {
    await publishWithCompanions(
      [
        { path: manifestFile, data: `${JSON.stringify(manifest, null, 2)}\n` },
        { path: sidecarFile, data: checksumLine(dumped.sha256, plan.name.toString()) },
      ],
      () => outgoing.publish(),
    );
  } catch (err) {
    await outgoing.abandon(err);
    if (!(err instanceof UserError)) throw err;
    throw new UserError(`${err.message}; this backup was not kept, earlier backups are untouched`, {
      cause: err,
    });
  }
  // Only now is the dump known complete (exit statuses, trailer) and safe on disk: the uploads may
  // store their objects under the final names.
  outgoing.finishUploads();
  logger.info(
    `Backup written: ${file} (${dumped.sizeBytes} bytes, ${dumped.dumpBytes ?? "?"} bytes dumped, ${durationSeconds.toFixed(1)} s, sha256 ${dumped.sha256})`,
  );
  return { file, manifestFile, sidecarFile, manifest, finishedAt, durationSeconds };
}

/** What the manifest beside the backup records: its source, tools, format, sizes, checksum and catalog. */
function manifestOf(
  run: BackupRun,
  plan: Preflight,
  dumped: Dumped,
  finishedAt: Date,
  durationSeconds: number,
): BackupManifest {
  const { config, startedAt } = run;
  const { server, pgDump, encryptor, name } = plan;
  return {
    manifestVersion: MANIFEST_VERSION,
    tool: { name: "lifeline", version: LIFELINE_VERSION },
    file: name.toString(),
    tier: "daily",
    database: server.database,
    server: { version: server.version, versionNum: server.versionNum, target: plan.target },
    pgDump: { version: pgDump.version, path: pgDump.path },
    format: config.format,
    extension: name.extension,
    compression: {
      algorithm: config.compression,
      level: config.compression === "none" ? 0 : config.compressionLevel,
    },
    encryption: encryptor
      ? { method: "gpg", recipient: encryptor.recipient, fingerprint: encryptor.fingerprint }
      : null,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds,
    dumpBytes: dumped.dumpBytes,
    sizeBytes: dumped.sizeBytes,
    sha256: dumped.sha256,
    catalog: dumped.catalog,
    databaseProperties: dumped.databaseProperties,
  };
}
