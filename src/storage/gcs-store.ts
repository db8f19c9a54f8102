import { PassThrough, type Readable } from "node:stream";
import { type File, Storage } from "@google-cloud/storage";
import type { Logger } from "../log/logger.js";
import { abortReason, anySignal, DeadlineError, formatBound, withDeadline } from "../net/deadline.js";
import { briefly, DestinationError, networkCode } from "./destination-error.js";
import { boundGcsSockets } from "./gcs-sockets.js";
import { withRetry } from "./retry.js";
import type { GcsStorageClass } from "./storage-classes.js";
import {
  type BackupStore,
  MISSING_OBJECT_ADVICE,
  type PutOptions,
  probeWrite,
  type StoredObject,
  type StreamUpload,
} from "./store.js";
import { NETWORK_TIMEOUT_SETTING, type TransferSettings } from "./transfer.js";

export interface GcsStoreSettings {
  readonly bucket: string;
  readonly prefix: string;
  readonly storageClass: GcsStorageClass;
  /** API endpoint override (an emulator); STORAGE_EMULATOR_HOST is honoured by the SDK itself. */
  readonly endpoint: string | undefined;
  readonly projectId: string | undefined;
  readonly transfer: TransferSettings;
}

function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

/** Google Cloud Storage through @google-cloud/storage: resumable uploads in chunks of the part size. */
export class GcsStore implements BackupStore {
  readonly kind = "gcs";
  readonly location: string;
  private readonly storage: Storage;

  constructor(
    private readonly settings: GcsStoreSettings,
    private readonly logger?: Logger,
    /** The run's signal: every operation ends when it fires. */
    private readonly signal?: AbortSignal,
  ) {
    this.location = `gs://${settings.bucket}/${settings.prefix}`;
    // The SDK reads STORAGE_EMULATOR_HOST itself and then uses one URL for both the JSON API and
    // resumable uploads, which fits no emulator; the endpoint derived from it in the config is used
    // instead, so the variable is hidden while the client is built.
    boundGcsSockets(settings.transfer.requestTimeoutMs);
    const emulatorHost = process.env.STORAGE_EMULATOR_HOST;
    if (settings.endpoint) delete process.env.STORAGE_EMULATOR_HOST;
    this.storage = new Storage({
      ...(settings.endpoint ? { apiEndpoint: settings.endpoint } : {}),
      ...(settings.projectId ? { projectId: settings.projectId } : {}),
      // The SDK retries 408/429/5xx and network errors with exponential backoff; idempotent calls only
      // by default, which covers resumable chunks (they carry their offset).
      retryOptions: {
        autoRetry: true,
        maxRetries: settings.transfer.attempts - 1,
        totalTimeout: Math.ceil(settings.transfer.requestTimeoutMs / 1000),
      },
      // Per request (the SDK's default is 60 s); the SDK takes no AbortSignal for most calls, so
      // `timed` stops waiting at the deadline and this ends the request itself soon after.
      timeout: settings.transfer.requestTimeoutMs,
    });
    if (emulatorHost !== undefined) process.env.STORAGE_EMULATOR_HOST = emulatorHost;
  }

  uri(name: string): string {
    return `${this.location}${name}`;
  }

  private file(name: string): File {
    return this.storage.bucket(this.settings.bucket).file(`${this.settings.prefix}${name}`);
  }

  /** One operation under the network deadline and the run's signal (plus `signal`, e.g. the preflight's bound). */
  private timed<T>(what: string, operation: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const endpoint = this.settings.endpoint ?? "storage.googleapis.com";
    return withDeadline(`GCS ${what} at ${endpoint}`, this.settings.transfer.requestTimeoutMs, operation, {
      signal: anySignal(this.signal, signal),
      setting: NETWORK_TIMEOUT_SETTING,
    });
  }

  private explain(action: string, name: string | undefined, err: unknown): Error {
    // A cancelled run is reported as such (the adapters exit for it), not as this destination's failure.
    if (this.signal?.aborted) return abortReason(this.signal);
    const where = name === undefined ? this.location : this.uri(name);
    const status = statusOf(err);
    const net = networkCode(err);
    const message = briefly(err);
    let advice: string;
    if (err instanceof DeadlineError) {
      advice = `${this.settings.endpoint ?? "storage.googleapis.com"} did not answer within ${formatBound(err.timeoutMs, err.setting)}: check BACKUP_GCS_ENDPOINT / STORAGE_EMULATOR_HOST and the network`;
    } else if (net) {
      advice = `cannot reach ${this.settings.endpoint ?? "storage.googleapis.com"} (${net}): check BACKUP_GCS_ENDPOINT / STORAGE_EMULATOR_HOST and the network`;
    } else if (/Could not load the default credentials|credentials/i.test(message) && status === undefined) {
      advice =
        "no Google credentials were found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or use " +
        "workload identity (google-github-actions/auth in a workflow)";
    } else if (status === 404 && action === "check the bucket") {
      advice = `bucket '${this.settings.bucket}' does not exist: create it (gcloud storage buckets create gs://${this.settings.bucket}) or fix BACKUP_GCS_BUCKET`;
    } else if (status === 401 || status === 403) {
      advice = `access denied (${status}): the account needs roles/storage.objectAdmin on the bucket (${message})`;
    } else if (status === 412) {
      advice = "an object with this name already exists; Lifeline never overwrites a backup";
    } else {
      advice = message;
    }
    return new DestinationError(where, `GCS ${action} failed for ${where}: ${advice}`, { cause: err });
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    try {
      // Listing needs storage.objects.list, which roles/storage.objectAdmin grants; reading the
      // bucket's metadata would need storage.buckets.get, which it does not.
      await this.timed(
        "list",
        () =>
          this.storage
            .bucket(this.settings.bucket)
            .getFiles({ prefix: this.settings.prefix, maxResults: 1, autoPaginate: false }),
        signal,
      );
    } catch (err) {
      throw this.explain("check the bucket", undefined, err);
    }
    await probeWrite(this, signal);
  }

  /** Cancels a resumable session: its URI is its own credential, so a plain DELETE suffices. */
  private async cancelSession(sessionUri: string): Promise<void> {
    await withRetry(
      async () => {
        const response = await fetch(sessionUri, {
          method: "DELETE",
          // Not the run's signal: a cancelled upload's session must still be cancelled.
          signal: AbortSignal.timeout(this.settings.transfer.requestTimeoutMs),
        });
        // 499 is GCS's "cancelled"; 404/410: the session is already gone.
        if (response.status >= 500) throw new Error(`HTTP ${response.status}`);
      },
      { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 },
    ).catch((err: unknown) =>
      this.logger?.warn(
        `Could not cancel the resumable upload session for ${this.location}: ${briefly(err)}; GCS expires it within a week and it holds no object`,
      ),
    );
  }

  async upload(name: string, options: PutOptions = {}): Promise<StreamUpload> {
    const file = this.file(name);
    const metadata = {
      contentType: options.contentType ?? "application/octet-stream",
      storageClass: this.settings.storageClass,
    };
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    const sink = file.createWriteStream({
      resumable: true,
      chunkSize: this.settings.transfer.partSizeBytes,
      timeout: this.settings.transfer.requestTimeoutMs,
      metadata,
      // Never overwrite: the upload only succeeds if no object of this name exists (generation 0).
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    let sessionUri: string | undefined;
    sink.on("uri", (uri: string) => {
      sessionUri = uri;
    });
    let aborted: Error | undefined;
    const done = new Promise<void>((resolve, reject) => {
      sink.once("finish", () => resolve());
      sink.once("error", reject);
      body.once("error", reject);
    }).catch((err: unknown) => {
      sink.destroy();
      throw aborted ?? this.explain("upload", name, err);
    });
    done.catch(() => {});
    body.pipe(sink);
    return {
      name,
      stream: body,
      done,
      abort: async (reason: Error) => {
        aborted ??= reason;
        body.destroy(reason);
        await done.catch(() => {});
        if (sessionUri) await this.cancelSession(sessionUri);
      },
    };
  }

  async put(name: string, body: string | Buffer, options: PutOptions = {}): Promise<void> {
    try {
      await this.timed(
        "upload",
        () =>
          this.file(name).save(body, {
            resumable: false,
            // The bucket's default class: sidecars and manifests are read often and are tiny.
            metadata: { contentType: options.contentType ?? "text/plain; charset=utf-8" },
            preconditionOpts: { ifGenerationMatch: 0 },
          }),
        options.signal,
      );
    } catch (err) {
      throw this.explain("put", name, err);
    }
  }

  async recordChecksum(name: string, sha256: string): Promise<void> {
    try {
      await this.timed("set metadata", () => this.file(name).setMetadata({ metadata: { sha256 } }));
    } catch (err) {
      throw this.explain("set metadata", name, err);
    }
  }

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    try {
      // Page by page, each under its own deadline: a long listing is not one request.
      let pageToken: string | undefined;
      do {
        const token = pageToken;
        const [files, next] = await this.timed("list", () =>
          this.storage.bucket(this.settings.bucket).getFiles({
            prefix: this.settings.prefix,
            delimiter: "/",
            autoPaginate: false,
            ...(token ? { pageToken: token } : {}),
          }),
        );
        for (const f of files) out.push(this.describe(f.name.slice(this.settings.prefix.length), f.metadata));
        pageToken = (next as { pageToken?: string } | null | undefined)?.pageToken;
      } while (pageToken);
      return out;
    } catch (err) {
      throw this.explain("list", undefined, err);
    }
  }

  private describe(name: string, m: File["metadata"]): StoredObject {
    const sha = m.metadata?.sha256;
    return {
      name,
      sizeBytes: Number(m.size ?? 0),
      lastModified: new Date(m.updated ?? m.timeCreated ?? 0),
      ...(m.storageClass ? { storageClass: m.storageClass } : {}),
      ...(typeof sha === "string" ? { sha256: sha } : {}),
    };
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    try {
      const [m] = await this.timed("stat", () => this.file(name).getMetadata());
      return this.describe(name, m);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.explain("stat", name, err);
    }
  }

  async get(name: string, signal?: AbortSignal): Promise<Readable> {
    // Existence first, so that a missing object fails here with advice rather than mid-stream.
    if (!(await this.stat(name))) {
      throw new DestinationError(
        this.uri(name),
        `GCS download failed for ${this.uri(name)}: ${MISSING_OBJECT_ADVICE}`,
      );
    }
    // Our own SHA-256 checks the bytes end to end; the SDK's validation would hash them a second time.
    const stream = this.file(name).createReadStream({ validation: false });
    const stop = anySignal(this.signal, signal);
    if (stop) {
      const onAbort = () => stream.destroy(abortReason(stop));
      stop.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => stop.removeEventListener("abort", onAbort));
    }
    return stream;
  }

  async getText(name: string): Promise<string | undefined> {
    try {
      const [data] = await this.timed("download", () => this.file(name).download());
      return data.toString("utf8");
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.explain("download", name, err);
    }
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.timed("delete", () => this.file(name).delete({ ignoreNotFound: true }), signal);
    } catch (err) {
      throw this.explain("delete", name, err);
    }
  }

  /** Sets the bucket's lifecycle rules (replacing the whole of them). */
  async applyLifecycle(lifecycle: { rule: unknown[] }): Promise<void> {
    try {
      await this.timed("set the bucket lifecycle", () =>
        this.storage.bucket(this.settings.bucket).setMetadata({ lifecycle } as never),
      );
    } catch (err) {
      throw this.explain("set the bucket lifecycle", undefined, err);
    }
    // Read back: a server that accepts the call but drops the rules (some emulators) must not pass.
    const kept = await this.lifecycleRules();
    if (kept.length !== lifecycle.rule.length) {
      throw new DestinationError(
        this.location,
        `GCS set the bucket lifecycle for ${this.location}: the call succeeded but the bucket reports ${kept.length} of ${lifecycle.rule.length} rules; set them with gcloud (command above)`,
      );
    }
  }

  /** The bucket's lifecycle rules as GCS reports them. */
  async lifecycleRules(): Promise<unknown[]> {
    const [m] = await this.timed("get the bucket metadata", () =>
      this.storage.bucket(this.settings.bucket).getMetadata(),
    );
    return (m.lifecycle?.rule as unknown[] | undefined) ?? [];
  }
}
