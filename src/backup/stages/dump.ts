import { stat } from "node:fs/promises";
import { availableParallelism } from "node:os";
import path from "node:path";
import type { BackupManifest } from "../../catalog/manifest.js";
import type { GpgEncryptor } from "../../crypto/gpg.js";
import { sealText } from "../../crypto/sealed-text.js";
import type { DatabaseProperties } from "../../db/database-properties.js";
import { libpqEnvironment } from "../../db/database-url.js";
import { ExportedSnapshot, type SnapshotCatalog } from "../../db/snapshot.js";
import type { Logger } from "../../log/logger.js";
import { runDumpPipeline } from "../dump-pipeline.js";
import type { BackupRun, HeldByRun } from "./context.js";
import { OutgoingBackup, stallTimeoutOf } from "./outgoing.js";
import type { Preflight } from "./preflight.js";

/** A dump written to its partial file (synced, not yet published), with what its manifest records. */
export interface Dumped {
  /** The final path; the bytes are still under the partial name. */
  readonly file: string;
  readonly outgoing: OutgoingBackup;
  readonly dumpBytes: number | null;
  readonly sha256: string;
  readonly sizeBytes: number;
  readonly catalog: BackupManifest["catalog"];
  readonly databaseProperties: BackupManifest["databaseProperties"];
}

/**
 * The third stage: pg_dump → compression → optional GPG → partial file (and the clouds) in one
 * streamed pass, in an exported snapshot that the manifest's catalog is read in too. A failed dump
 * leaves nothing: the partial file is removed and the uploads are aborted. The partial file and its
 * uploads are put in `held` as soon as they exist.
 */
export async function dump(
  run: BackupRun,
  plan: Preflight,
  workDir: string,
  held: HeldByRun,
): Promise<Dumped> {
  const { config, logger, signal } = run;
  const file = path.join(workDir, plan.name.toString());
  const outgoing = await OutgoingBackup.open(
    {
      file,
      name: plan.name,
      due: plan.due,
      holdings: plan.holdings,
      schedule: config.schedule,
      encrypted: !!plan.encryptor,
      previousSizeBytes: plan.previousSizeBytes,
      stallTimeoutMs: stallTimeoutOf(config.destinations),
    },
    logger,
  );
  held.outgoing = outgoing;
  const { output, fanOut } = outgoing;
  let snapshot: ExportedSnapshot | undefined;
  try {
    snapshot = await ExportedSnapshot.open(config.connection, signal);
    const dumpArgs =
      config.format === "custom"
        ? ["--format=custom", `--compress=${config.compression === "none" ? 0 : config.compressionLevel}`]
        : ["--format=plain"];
    // Plain dumps are counted from the stream itself (exactly what the file holds, no load on the
    // live database); custom archives cannot be read in flight, so they are counted in the snapshot.
    const countInStream = config.format === "plain" && config.rowCounts === "exact";
    // What the manifest records is read on its own connection in the same snapshot: a catalog that
    // cannot be read (permissions, a cancelled query) is a warning, and never touches the dump.
    const described = snapshot.describe(countInStream ? "off" : config.rowCounts).then((d) => {
      if (d.catalog.error)
        logger.warn(
          `Could not read the catalog for the manifest: ${d.catalog.error}; the backup continues without it`,
        );
      if (d.database.error)
        logger.warn(
          `Could not read the database's properties (ACL, comment, settings) for the manifest: ${d.database.error}; ` +
            "the backup continues, and a restore will not re-apply them",
        );
      return d;
    });
    const [dumped, description] = await Promise.all([
      runDumpPipeline({
        pgDump: plan.pgDump,
        args: [...dumpArgs, `--snapshot=${snapshot.id}`],
        env: libpqEnvironment(config.connection),
        format: config.format,
        compression: config.compression,
        level: config.compressionLevel,
        threads: availableParallelism(),
        countRows: countInStream,
        encryptor: plan.encryptor,
        output,
        ...(fanOut ? { sink: fanOut } : {}),
        backupDir: config.backupDir,
        ...(signal ? { signal } : {}),
      }),
      described,
    ]);
    const sqlCatalog = description.catalog;
    const databaseProperties = plan.encryptor
      ? await sealSettings(description.database, plan.encryptor, logger)
      : description.database;
    const catalog = countInStream ? withStreamCounts(sqlCatalog, dumped.rowCounts ?? new Map()) : sqlCatalog;
    logger.info(`Dumped ${dumped.dumpBytes ?? "an unreported number of"} bytes via ${dumped.topology}`);
    await output.sync(); // published by the next stage, after its manifest and sidecar
    const sizeBytes = (await stat(output.tempPath)).size;
    return {
      file,
      outgoing,
      dumpBytes: dumped.dumpBytes,
      sha256: dumped.sha256,
      sizeBytes,
      catalog,
      databaseProperties,
    };
  } catch (err) {
    await outgoing.abandon(err);
    throw err;
  } finally {
    await snapshot?.close();
  }
}

/** The properties with their settings encrypted to the backup's recipient (the manifest is in the clear). */
async function sealSettings(
  properties: DatabaseProperties,
  encryptor: GpgEncryptor,
  logger: Logger,
): Promise<DatabaseProperties> {
  if (properties.error || properties.settings.length === 0) return properties;
  try {
    return {
      ...properties,
      settings: [],
      sealedSettings: await sealText(encryptor, JSON.stringify(properties.settings)),
    };
  } catch (err) {
    const error = `the database settings could not be encrypted for the manifest: ${(err as Error).message}`;
    logger.warn(`${error}; the backup continues, and a restore will not re-apply the database's properties`);
    return { ...properties, settings: [], error };
  }
}

/** The snapshot's catalog with each table's rows as counted in the dump stream. */
function withStreamCounts(catalog: SnapshotCatalog, counts: ReadonlyMap<string, number>): SnapshotCatalog {
  if (catalog.error) return catalog;
  return {
    ...catalog,
    rowCounts: "exact",
    rowCountSource: "dump stream",
    tables: catalog.tables.map((t) => ({ name: t.name, rows: counts.get(t.name) ?? null })),
  };
}
