import { createHash } from "node:crypto";
import path from "node:path";
import * as cache from "@actions/cache";
import type { MediaOffsiteConfig } from "../../config/media-config.js";
import type { Logger } from "../../log/logger.js";
import { OFFSITE_CACHE_DIR } from "../../media/remote-known.js";

/**
 * What each bucket holds (its newest snapshot's index), carried between runs in the Actions cache for
 * runners whose MEDIA_BACKUP_DIR does not survive the job (ephemeral or GitHub-hosted). The engine
 * trusts a restored copy only when it matches the bucket's newest snapshot; otherwise it reads the
 * bucket's own index. Names no file and holds no secret: hashes, sizes and object names only.
 */
export class IndexCache {
  private constructor(
    private readonly dir: string,
    private readonly base: string,
    private readonly logger: Logger,
  ) {}

  /** Undefined when there is nothing to cache (no bucket) or the runner has no cache service. */
  static open(
    backupDir: string,
    offsite: MediaOffsiteConfig | undefined,
    logger: Logger,
  ): IndexCache | undefined {
    if (!offsite || offsite.destinations.length === 0) return undefined;
    if (!cache.isFeatureAvailable()) {
      logger.info(
        "The Actions cache is not available on this runner: deduplication reads the local cache or the bucket",
      );
      return undefined;
    }
    const where = offsite.destinations
      .map(
        (d) =>
          `${d.kind}:${"bucket" in d.settings ? d.settings.bucket : d.settings.container}/${offsite.prefix}`,
      )
      .sort()
      .join(",");
    const base = `lifeline-media-index-v1-${createHash("sha256").update(where).digest("hex").slice(0, 16)}`;
    return new IndexCache(path.join(backupDir, OFFSITE_CACHE_DIR), base, logger);
  }

  /** Restores the newest saved copy; a failure only means the bucket is read instead. */
  async restore(): Promise<void> {
    try {
      const hit = await cache.restoreCache([this.dir], `${this.base}-${runId()}`, [`${this.base}-`]);
      this.logger.info(
        hit
          ? `Restored the bucket index cache ${hit}`
          : "No bucket index cache saved yet: the bucket is read",
      );
    } catch (err) {
      this.logger.warn(
        `The bucket index cache could not be restored (${(err as Error).message}): the bucket is read`,
      );
    }
  }

  /** Saves this run's copy under a key of its own (cache entries are immutable). */
  async save(): Promise<void> {
    try {
      await cache.saveCache([this.dir], `${this.base}-${runId()}`);
      this.logger.info("Saved the bucket index cache for the next run");
    } catch (err) {
      this.logger.warn(
        `The bucket index cache could not be saved (${(err as Error).message}): the next run reads the bucket`,
      );
    }
  }
}

const runId = (): string =>
  `${process.env.GITHUB_RUN_ID ?? Date.now()}-${process.env.GITHUB_RUN_ATTEMPT ?? "1"}`;
