import { createHash } from "node:crypto";
import type { DataSubset } from "../config/media-config.js";
import type { GpgDecryptKeyring } from "../crypto/gpg-keyring.js";
import type { Logger } from "../log/logger.js";
import { throwIfCancelled } from "../shared/errors.js";
import { briefly } from "../storage/destination-error.js";
import { showPath } from "./media-path.js";
import { readObjectsFile } from "./remote-known.js";
import { isDataName } from "./remote-layout.js";
import { stageRemoteSnapshot } from "./remote-source.js";
import { listRemoteSnapshots, type MediaRemote } from "./remote-store.js";
import { readWholeManifest } from "./snapshot-store.js";
import { inSubset, MAX_PROBLEMS_KEPT } from "./snapshot-verify.js";

/** What verifying one snapshot in a bucket found. */
export interface RemoteSnapshotCheck {
  readonly name: string;
  readonly takenAt: Date;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly problemCount: number;
  /** The backup recorded unreadable entries. */
  readonly incomplete: boolean;
  /** Contents downloaded and hashed (each content once per run, whichever snapshot names it first). */
  readonly contentsChecked: number;
  readonly bytesRead: number;
  readonly contentsNotRead: number;
}

export interface RemoteMediaCheck {
  readonly kind: MediaRemote["kind"];
  readonly location: string;
  /** Complete snapshots, newest first. */
  readonly snapshots: readonly RemoteSnapshotCheck[];
  /** Snapshots whose upload never completed (no sums file): not failures, named. */
  readonly unfinished: readonly string[];
  readonly newestAgeHours: number | undefined;
  /** The bucket could not be read at all. */
  readonly error?: string;
}

/**
 * Verifies every complete media snapshot in one bucket: the sums file, the manifest, index and objects
 * list against it, every file of the manifest present in the index with its size, every data object
 * the snapshot uses present with the size it was stored with, and the contents in `subset` downloaded
 * (by byte range) and hashed again.
 */
export async function verifyRemoteMedia(
  remote: MediaRemote,
  options: {
    readonly subset: DataSubset;
    readonly keyring?: GpgDecryptKeyring | undefined;
    readonly logger: Logger;
    readonly signal?: AbortSignal | undefined;
    readonly now: Date;
    /** A download that sends nothing this long fails. */
    readonly stallMs?: number | undefined;
  },
): Promise<RemoteMediaCheck> {
  const { logger, signal } = options;
  let listing: Awaited<ReturnType<typeof listRemoteSnapshots>>;
  let data: Map<string, number>;
  try {
    listing = await listRemoteSnapshots(remote);
    data = new Map(
      (await remote.data.list()).filter((o) => isDataName(o.name)).map((o) => [o.name, o.sizeBytes]),
    );
  } catch (err) {
    logger.error(`verify media ${remote.location}: cannot be listed: ${briefly(err)}`);
    return {
      kind: remote.kind,
      location: remote.location,
      snapshots: [],
      unfinished: [],
      newestAgeHours: undefined,
      error: briefly(err),
    };
  }
  const checked = new Set<string>();
  const snapshots: RemoteSnapshotCheck[] = [];
  for (const ref of listing.snapshots.filter((s) => s.complete)) {
    throwIfCancelled(signal, "The media verification was cancelled");
    const problems: string[] = [];
    let problemCount = 0;
    const problem = (text: string) => {
      problemCount++;
      if (problems.length < MAX_PROBLEMS_KEPT) problems.push(`${ref.name}: ${text}`);
    };
    let contentsChecked = 0;
    let contentsNotRead = 0;
    let bytesRead = 0;
    let incomplete = false;
    try {
      const objects = await readObjectsFile(remote, ref);
      for (const [name, bytes] of objects.objects) {
        const stored = data.get(name);
        if (stored === undefined)
          problem(
            `the data object ${remote.data.uri(name)} it uses is missing: backup-media --full lists the bucket and uploads it again`,
          );
        else if (stored !== bytes)
          problem(`${remote.data.uri(name)} is ${stored} bytes; the snapshot stored ${bytes}`);
      }
      const staged = await stageRemoteSnapshot(remote, ref, {
        keyring: options.keyring,
        signal,
        stallMs: options.stallMs,
      });
      try {
        for (const [name, bytes] of staged.index.objects()) {
          if (objects.objects.get(name) !== bytes)
            problem(`the index names ${name} (${bytes} bytes), the objects list does not`);
        }
        const toRead: { entry: Parameters<typeof staged.content>[0] }[] = [];
        const { totals } = await readWholeManifest(staged.dir, (e) => {
          if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable") return;
          const at = staged.index.get(e.sha256);
          if (!at)
            return problem(`${showPath(e.path)}: its content (sha256 ${e.sha256}) is not in the index`);
          if (at.length !== e.size)
            return problem(
              `${showPath(e.path)}: the index records ${at.length} bytes, the manifest ${e.size}`,
            );
          if (!objects.objects.has(at.object))
            return problem(`${showPath(e.path)}: its object ${at.object} is not in the objects list`);
          // Each stored copy is read once per run: the same content in another object is another copy.
          const copy = `${at.object}:${at.offset}:${at.length}`;
          if (checked.has(copy)) return;
          checked.add(copy);
          if (inSubset(options.subset, e.sha256)) toRead.push({ entry: e });
          else contentsNotRead++;
        });
        incomplete = totals.errors > 0;
        for (const { entry } of toRead) {
          throwIfCancelled(signal, "The media verification was cancelled");
          const hash = createHash("sha256");
          let bytes = 0;
          try {
            for await (const chunk of (await staged.content(entry, signal)) as AsyncIterable<Buffer>) {
              hash.update(chunk);
              bytes += chunk.length;
              if (bytes > entry.size) break;
            }
            const sha = hash.digest("hex");
            if (bytes !== entry.size || sha !== entry.sha256) {
              problem(
                `${showPath(entry.path)}: its content in the bucket is damaged (${bytes} bytes, sha256 ${sha}; the manifest says ${entry.size} bytes, ${entry.sha256})`,
              );
            }
          } catch (err) {
            if (signal?.aborted) throw err;
            problem(`${showPath(entry.path)}: its content cannot be read: ${briefly(err)}`);
          }
          contentsChecked++;
          bytesRead += bytes;
        }
      } finally {
        staged.dispose();
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      problem(briefly(err));
    }
    const check: RemoteSnapshotCheck = {
      name: ref.name,
      takenAt: ref.takenAt,
      ok: problemCount === 0,
      problems,
      problemCount,
      incomplete,
      contentsChecked,
      bytesRead,
      contentsNotRead,
    };
    const counts = `${contentsChecked} contents read (${bytesRead} bytes), ${contentsNotRead} not read`;
    if (check.ok) logger.info(`verify media ${remote.location}${ref.name}: OK, ${counts}`);
    else {
      logger.error(
        `verify media ${remote.location}${ref.name}: FAILED, ${problemCount} problem(s); ${counts}`,
      );
      for (const p of problems) logger.error(`verify media ${remote.location}${p}`);
    }
    snapshots.push(check);
  }
  const newest = snapshots.find((s) => s.ok && !s.incomplete);
  return {
    kind: remote.kind,
    location: remote.location,
    snapshots,
    unfinished: listing.snapshots.filter((s) => !s.complete).map((s) => s.name),
    newestAgeHours: newest ? (options.now.getTime() - newest.takenAt.getTime()) / 3_600_000 : undefined,
  };
}
