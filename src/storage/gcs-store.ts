import { type PassThrough, Readable } from "node:stream";
import { type File, Storage } from "@google-cloud/storage";
import type { Logger } from "../log/logger.js";
import { abortReason, anySignal } from "../net/deadline.js";
import { CloudStore, DATA_CONTENT_TYPE, numberAt, storedObject, TEXT_CONTENT_TYPE } from "./cloud-store.js";
import { briefly, DestinationError } from "./destination-error.js";
import { boundGcsSockets } from "./gcs-sockets.js";
import { withRetry } from "./retry.js";
import type { GcsStorageClass } from "./storage-classes.js";
import {
  type BackupStore,
  type ByteRange,
  type GetTextOptions,
  MISSING_OBJECT_ADVICE,
  type PutOptions,
  probeWrite,
  type StoredObject,
  type StreamUpload,
} from "./store.js";
import type { TransferSettings } from "./transfer.js";

export interface GcsStoreSettings {
  readonly bucket: string;
  readonly prefix: string;
  readonly storageClass: GcsStorageClass;
  /** API endpoint override (an emulator); STORAGE_EMULATOR_HOST is honoured by the SDK itself. */
  readonly endpoint: string | undefined;
  readonly projectId: string | undefined;
  readonly transfer: TransferSettings;
}

const statusOf = (err: unknown) => numberAt(err, "code");

/** Google Cloud Storage through @google-cloud/storage: resumable uploads in chunks of the part size. */
export class GcsStore extends CloudStore implements BackupStore {
  readonly kind = "gcs";
  private readonly storage: Storage;

  constructor(
    private readonly settings: GcsStoreSettings,
    logger?: Logger,
    /** The run's signal: every operation ends when it fires. */
    signal?: AbortSignal,
  ) {
    super(
      "GCS",
      `gs://${settings.bucket}/${settings.prefix}`,
      "BACKUP_GCS_ENDPOINT / STORAGE_EMULATOR_HOST",
      settings.transfer.requestTimeoutMs,
      logger,
      signal,
    );
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

  private file(name: string): File {
    return this.storage.bucket(this.settings.bucket).file(`${this.settings.prefix}${name}`);
  }

  protected get endpoint(): string {
    return this.settings.endpoint ?? "storage.googleapis.com";
  }

  protected isMissing(err: unknown): boolean {
    return statusOf(err) === 404;
  }

  protected advice(action: string, _name: string | undefined, err: unknown): string {
    const status = statusOf(err);
    const message = briefly(err);
    if (/Could not load the default credentials|credentials/i.test(message) && status === undefined) {
      return (
        "no Google credentials were found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or use " +
        "workload identity (google-github-actions/auth in a workflow)"
      );
    }
    if (status === 404 && action === "check the bucket") {
      return `bucket '${this.settings.bucket}' does not exist: create it (gcloud storage buckets create gs://${this.settings.bucket}) or fix BACKUP_GCS_BUCKET`;
    }
    if (status === 401 || status === 403) {
      return `access denied (${status}): the account needs roles/storage.objectAdmin on the bucket (${message})`;
    }
    if (status === 412) return "an object with this name already exists; Lifeline never overwrites a backup";
    return message;
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    // Listing needs storage.objects.list, which roles/storage.objectAdmin grants; reading the
    // bucket's metadata would need storage.buckets.get, which it does not.
    await this.call({ what: "list", action: "check the bucket", signal }, () =>
      this.storage
        .bucket(this.settings.bucket)
        .getFiles({ prefix: this.settings.prefix, maxResults: 1, autoPaginate: false }),
    );
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
    const sink = this.file(name).createWriteStream({
      resumable: true,
      chunkSize: this.settings.transfer.partSizeBytes,
      timeout: this.settings.transfer.requestTimeoutMs,
      metadata: {
        contentType: options.contentType ?? DATA_CONTENT_TYPE,
        ...(options.readable ? {} : { storageClass: this.settings.storageClass }),
      },
      // Never overwrite: the upload only succeeds if no object of this name exists (generation 0).
      preconditionOpts: { ifGenerationMatch: 0 },
    });
    let sessionUri: string | undefined;
    sink.on("uri", (uri: string) => {
      sessionUri = uri;
    });
    const transfer = (body: PassThrough) => {
      const sent = new Promise<void>((resolve, reject) => {
        sink.once("finish", () => resolve());
        sink.once("error", reject);
        body.once("error", reject);
      }).catch((err: unknown) => {
        sink.destroy();
        throw err;
      });
      body.pipe(sink);
      return sent;
    };
    return this.streamedUpload(name, transfer, async () => {
      if (sessionUri) await this.cancelSession(sessionUri);
    });
  }

  async put(name: string, body: string | Buffer, options: PutOptions = {}): Promise<void> {
    await this.call({ what: "upload", action: "put", name, signal: options.signal }, () =>
      this.file(name).save(body, {
        resumable: false,
        // The bucket's default class: sidecars and manifests are read often and are tiny.
        metadata: { contentType: options.contentType ?? TEXT_CONTENT_TYPE },
        preconditionOpts: { ifGenerationMatch: 0 },
      }),
    );
  }

  async recordChecksum(name: string, sha256: string): Promise<void> {
    await this.call({ what: "set metadata", action: "set metadata", name }, () =>
      this.file(name).setMetadata({ metadata: { sha256 } }),
    );
  }

  list(): Promise<StoredObject[]> {
    return this.listPages(async (token) => {
      const [files, next] = await this.timed("list", () =>
        this.storage.bucket(this.settings.bucket).getFiles({
          prefix: this.settings.prefix,
          delimiter: "/",
          autoPaginate: false,
          ...(token ? { pageToken: token } : {}),
        }),
      );
      return {
        objects: files.map((f) => this.describe(f.name.slice(this.settings.prefix.length), f.metadata)),
        next: (next as { pageToken?: string } | null | undefined)?.pageToken,
      };
    });
  }

  private describe(name: string, m: File["metadata"]): StoredObject {
    const sha = m.metadata?.sha256;
    return storedObject(
      name,
      Number(m.size ?? 0),
      new Date(m.updated ?? m.timeCreated ?? 0),
      m.storageClass,
      typeof sha === "string" ? sha : undefined,
    );
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const got = await this.callUnlessMissing({ what: "stat", action: "stat", name }, () =>
      this.file(name).getMetadata(),
    );
    return got && this.describe(name, got[0]);
  }

  async get(name: string, signal?: AbortSignal, range?: ByteRange): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    // Existence first, so that a missing object fails here with advice rather than mid-stream.
    if (!(await this.stat(name))) {
      throw new DestinationError(
        this.uri(name),
        `GCS download failed for ${this.uri(name)}: ${MISSING_OBJECT_ADVICE}`,
      );
    }
    // Our own SHA-256 checks the bytes end to end; the SDK's validation would hash them a second time.
    const stream = this.file(name).createReadStream({
      validation: false,
      ...(range ? { start: range.start, end: range.end - 1 } : {}),
    });
    const stop = anySignal(this.signal, signal);
    if (stop) {
      const onAbort = () => stream.destroy(abortReason(stop));
      stop.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => stop.removeEventListener("abort", onAbort));
    }
    return stream;
  }

  getText(name: string, options: GetTextOptions = {}): Promise<string | undefined> {
    return this.rangedText(name, options, async (s, last) => {
      const stream = this.file(name).createReadStream({
        validation: false,
        ...(last !== undefined ? { start: 0, end: last } : {}),
      });
      const onAbort = () => stream.destroy(abortReason(s));
      s.addEventListener("abort", onAbort, { once: true });
      stream.once("close", () => s.removeEventListener("abort", onAbort));
      return stream;
    });
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    await this.call({ what: "delete", action: "delete", name, signal }, () =>
      this.file(name).delete({ ignoreNotFound: true }),
    );
  }

  /** Sets the bucket's lifecycle rules (replacing the whole of them). */
  async applyLifecycle(lifecycle: { rule: unknown[] }): Promise<void> {
    await this.call({ what: "set the bucket lifecycle", action: "set the bucket lifecycle" }, () =>
      this.storage.bucket(this.settings.bucket).setMetadata({ lifecycle } as never),
    );
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
