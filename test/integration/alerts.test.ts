import { describe, expect, it } from "vitest";
import { execFileAsync } from "../support/services/service.js";

describe("monitoring/alerts.yml", () => {
  it("is valid for promtool", async () => {
    const { stdout } = await execFileAsync("promtool", ["check", "rules", "monitoring/alerts.yml"]);
    expect(stdout).toContain("SUCCESS: 7 rules found");
  });

  it("fires as the runbook intends (BackupTooOld after 26 h, BackupFailed, BackupSizeIncrease, BackupUploadFailed, BackupVerifyFailed, BackupVerifyMissing): promtool test rules", async () => {
    const { stdout } = await execFileAsync("promtool", ["test", "rules", "monitoring/alerts.test.yml"]);
    expect(stdout).toContain("SUCCESS");
  });
});
