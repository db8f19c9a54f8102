import * as core from "@actions/core";
import { BACKUP_MEDIA_SETTINGS, loadBackupMediaConfig } from "../../config/media-config.js";
import { require } from "../../config/settings.js";
import { periodicLog } from "../../log/progress.js";
import { backupMedia } from "../../media/backup-media.js";
import { backupMediaSummary } from "../../media/backup-media-summary.js";
import { describeBuildProgress, describeOffsiteProgress } from "../../media/media-progress.js";
import { throwIfCancelled } from "../../shared/errors.js";
import { runAction } from "../shared/run-action.js";
import { verifyMediaBody } from "../shared/verify-media-body.js";
import { IndexCache } from "./index-cache.js";

/** The backup-media action: inputs → engine → outputs, job summary (also on failure), exit status. */
export async function runBackupMedia(): Promise<void> {
  await runAction({
    command: "backup-media",
    kind: "backup",
    type: "media",
    body: async (run) => {
      const { lookup, logger, signal } = run;
      if (require(BACKUP_MEDIA_SETTINGS.verifyOnly, lookup)) {
        run.kind = "verify"; // verify-only is verify --media: verify's metrics, failed or not
        return verifyMediaBody(lookup, logger, signal);
      }
      const progress = periodicLog(logger);
      const config = loadBackupMediaConfig(lookup);
      const indexCache = IndexCache.open(config.backupDir, config.offsite, logger);
      await indexCache?.restore();
      const result = await backupMedia(config, {
        logger,
        signal,
        onProgress: (p) => progress.update(describeBuildProgress(p)),
        onUploadProgress: (p) => progress.update(describeOffsiteProgress(p)),
      });
      if (result.offsite.some((o) => o.ok)) await indexCache?.save();
      throwIfCancelled(signal, "The media backup was cancelled after its snapshot was published; it is kept");
      const t = result.totals;
      core.setOutput("snapshot", result.snapshot);
      core.setOutput("snapshot-dir", result.snapshotDir);
      core.setOutput("files", String(t.files));
      core.setOutput("new-files", String(t.newFiles));
      core.setOutput("changed-files", String(t.changedFiles));
      core.setOutput("deleted-files", String(t.deletedFiles));
      core.setOutput("bytes-copied", String(t.bytesCopied));
      core.setOutput("bytes-linked", String(t.bytesLinked));
      core.setOutput("duration-seconds", result.durationSeconds.toFixed(3));
      core.setOutput(
        "offsite-failed",
        result.offsite
          .filter((o) => !o.ok)
          .map((o) => o.location)
          .join(" "),
      );
      if (t.errors > 0) {
        core.setFailed(
          `The snapshot ${result.snapshot} was published, but ${t.errors} entr${t.errors === 1 ? "y" : "ies"} could not be read: ` +
            result.problems.unreadable.join(", "),
        );
      }
      for (const o of result.offsite.filter((r) => !r.ok)) {
        core.setFailed(`The off-site copy to ${o.location} failed (${o.stage}): ${o.error}`);
      }
      return backupMediaSummary({ result });
    },
    failureSummary: (message) => backupMediaSummary({ error: new Error(message) }),
  });
}
