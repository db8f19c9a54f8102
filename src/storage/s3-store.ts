import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetBucketLifecycleConfigurationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutBucketLifecycleConfigurationCommand,
  type PutBucketLifecycleConfigurationCommandInput,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  type StorageClass,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { Logger } from "../log/logger.js";
import { anySignal } from "../net/deadline.js";
import { CloudStore, DATA_CONTENT_TYPE, storedObject, TEXT_CONTENT_TYPE } from "./cloud-store.js";
import { briefly, DestinationError } from "./destination-error.js";
import { withRetry } from "./retry.js";
import type { S3StorageClass } from "./storage-classes.js";
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
import { MIB, type TransferSettings } from "./transfer.js";

export interface S3StoreSettings {
  readonly bucket: string;
  /** Key prefix ending in '/', e.g. `backups/postgres/`; may be empty. */
  readonly prefix: string;
  readonly storageClass: S3StorageClass;
  /** Undefined: the SDK's chain (AWS_REGION, profile); with a custom endpoint, us-east-1. */
  readonly region: string | undefined;
  /** S3-compatible endpoint (MinIO, R2, Ceph); undefined for AWS. */
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  readonly transfer: TransferSettings;
}

/** Requests whose bodies are backup data: signed without hashing the payload (see the constructor). */
const UNSIGNED_COMMANDS = new Set(["UploadPartCommand", "PutObjectCommand"]);

/** S3's limit on parts per upload. */
const MAX_PARTS = 10_000;

/**
 * The part size for a stream of unknown length: the configured one, raised (in whole MiB) so that
 * twice the expected size still fits in S3's 10,000 parts — a backup may grow, a stream cannot be re-cut.
 */
export function partSizeFor(configured: number, expectedBytes: number | undefined): number {
  if (!expectedBytes) return configured;
  const needed = Math.ceil((expectedBytes * 2) / MAX_PARTS / MIB) * MIB;
  return Math.max(configured, needed);
}

/** Multipart uploads older than this under our prefix belong to runs that died: preflight aborts them. */
const STALE_MULTIPART_MS = 24 * 3600_000;

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** S3 (and S3-compatible stores) through the AWS SDK v3: lib-storage `Upload` for streamed multipart. */
export class S3Store extends CloudStore implements BackupStore {
  readonly kind = "s3";
  private readonly client: S3Client;

  constructor(
    private readonly settings: S3StoreSettings,
    logger?: Logger,
    /** The run's signal: every request ends when it fires. */
    signal?: AbortSignal,
  ) {
    super(
      "S3",
      `s3://${settings.bucket}/${settings.prefix}`,
      "BACKUP_S3_ENDPOINT / AWS_ENDPOINT_URL_S3",
      settings.transfer.requestTimeoutMs,
      logger,
      signal,
    );
    this.client = new S3Client({
      ...(settings.region ? { region: settings.region } : settings.endpoint ? { region: "us-east-1" } : {}),
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle,
      // The SDK retries throttling, 5xx and network errors with exponential backoff and jitter.
      maxAttempts: settings.transfer.attempts,
      // Without throwOnRequestTimeout a request past requestTimeout only logs a warning and waits on;
      // socketTimeout ends a response body that stops flowing (a download from a server gone silent).
      requestHandler: {
        connectionTimeout: Math.min(10_000, settings.transfer.requestTimeoutMs),
        requestTimeout: settings.transfer.requestTimeoutMs,
        throwOnRequestTimeout: true,
        socketTimeout: settings.transfer.requestTimeoutMs,
      },
    });
    // Data parts carry a CRC32 that S3 verifies (the SDK's default flexible checksum, native speed);
    // signing their payload too would hash every byte again with SHA-256 on the CPU the compressor
    // needs (measured: 0.5 s per 177 MB on 2 cores). As the AWS CLI does, such requests are signed with
    // UNSIGNED-PAYLOAD: integrity by the CRC32 and Lifeline's end-to-end SHA-256, transport by TLS.
    this.client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (UNSIGNED_COMMANDS.has(context.commandName ?? "") && request.headers) {
          request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
        }
        return next(args);
      },
      { step: "build", name: "lifelineUnsignedPayload" },
    );
  }

  private key(name: string): string {
    return `${this.settings.prefix}${name}`;
  }

  protected get endpoint(): string {
    return this.settings.endpoint ?? "AWS S3";
  }

  protected isMissing(err: unknown): boolean {
    return statusOf(err) === 404 || (err as { name?: string }).name === "NoSuchKey";
  }

  protected advice(action: string, name: string | undefined, err: unknown): string {
    const status = statusOf(err);
    const code = (err as { name?: string })?.name ?? "";
    const endpoint = this.endpoint;
    if (code === "CredentialsProviderError" || (/credential/i.test(briefly(err)) && status === undefined)) {
      return (
        "no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role " +
        "(aws-actions/configure-aws-credentials in a workflow)"
      );
    }
    if (code === "NoSuchBucket" || (status === 404 && action === "check the bucket")) {
      return `bucket '${this.settings.bucket}' does not exist at ${endpoint}: create it or fix BACKUP_S3_BUCKET`;
    }
    if (
      status === 403 ||
      ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"].includes(code)
    ) {
      return (
        `access denied (${code || status}): check the credentials and that they may s3:ListBucket, s3:PutObject, ` +
        "s3:GetObject, s3:DeleteObject, s3:PutObjectTagging and s3:AbortMultipartUpload on the bucket"
      );
    }
    if (code === "NoSuchKey" || (status === 404 && name !== undefined)) return MISSING_OBJECT_ADVICE;
    if (status === 412 || code === "PreconditionFailed") {
      return "an object with this name already exists; Lifeline never overwrites a backup";
    }
    if (/Exceeded \d+ parts/.test(briefly(err))) {
      return `the backup outgrew S3's ${MAX_PARTS} parts per upload: raise BACKUP_UPLOAD_PART_SIZE_MB`;
    }
    if (status === 301 || code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed") {
      return `the bucket is in another region: set BACKUP_S3_REGION (AWS_REGION) to the bucket's region`;
    }
    return briefly(err);
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    await this.call({ what: "HeadBucket", action: "check the bucket", signal }, (s) =>
      this.client.send(new HeadBucketCommand({ Bucket: this.settings.bucket }), { abortSignal: s }),
    );
    await probeWrite(this, signal);
    await this.abortStaleUploads(signal);
  }

  /** Aborts multipart uploads under our prefix that a dead run left behind (they are billed). */
  private async abortStaleUploads(signal?: AbortSignal): Promise<void> {
    // With no prefix the sweep would reach every application's uploads in the bucket: leave them.
    if (this.settings.prefix === "") return;
    const cutoff = Date.now() - STALE_MULTIPART_MS;
    const uploads = await this.timed(
      "ListMultipartUploads",
      (s) =>
        this.client.send(
          new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: this.settings.prefix }),
          { abortSignal: s },
        ),
      signal,
    ).catch((err: unknown) => {
      if (this.signal?.aborted || signal?.aborted) throw err;
      this.logger?.warn(`Could not list incomplete multipart uploads in ${this.location}: ${briefly(err)}`);
      return { Uploads: [] };
    });
    for (const u of uploads.Uploads ?? []) {
      if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated.getTime() > cutoff)) continue;
      if (u.Key.slice(this.settings.prefix.length).includes("/")) continue; // not at our level
      const { Key, UploadId } = u;
      await this.timed(
        "AbortMultipartUpload",
        (s) =>
          this.client.send(new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key, UploadId }), {
            abortSignal: s,
          }),
        signal,
      ).then(
        () =>
          this.logger?.warn(
            `Aborted an incomplete multipart upload left by an earlier run: s3://${this.settings.bucket}/${u.Key}`,
          ),
        (err: unknown) =>
          this.logger?.warn(`Could not abort the stale multipart upload of ${u.Key}: ${briefly(err)}`),
      );
    }
  }

  /**
   * Removes every incomplete multipart upload of one key. lib-storage aborts its own upload on failure,
   * but not when the server was unreachable at that moment: this outlasts a restart.
   */
  private async abortIncomplete(key: string): Promise<void> {
    await withRetry(
      async () => {
        const listed = await this.timed(
          "ListMultipartUploads",
          (s) =>
            this.client.send(new ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: key }), {
              abortSignal: s,
            }),
          undefined,
          true,
        );
        for (const u of listed.Uploads ?? []) {
          if (u.Key !== key || !u.UploadId) continue;
          const UploadId = u.UploadId;
          await this.timed(
            "AbortMultipartUpload",
            (s) =>
              this.client.send(
                new AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: key, UploadId }),
                { abortSignal: s },
              ),
            undefined,
            true,
          ).catch((err: unknown) => {
            // Already gone (lib-storage aborted it itself): that is the goal.
            if ((err as { name?: string }).name !== "NoSuchUpload" && statusOf(err) !== 404) throw err;
          });
        }
      },
      { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 },
    ).catch((err: unknown) => {
      this.logger?.error(
        `Could not abort the incomplete multipart upload of s3://${this.settings.bucket}/${key}: ${briefly(err)}; ` +
          "the next run's check aborts it, and the lifecycle rule AbortIncompleteMultipartUpload removes it too",
      );
    });
  }

  async upload(name: string, options: PutOptions = {}): Promise<StreamUpload> {
    const key = this.key(name);
    const transfer = (body: Readable) =>
      new Upload({
        client: this.client,
        params: {
          Bucket: this.settings.bucket,
          Key: key,
          Body: body,
          ...(options.readable ? {} : { StorageClass: this.settings.storageClass as StorageClass }),
          ContentType: options.contentType ?? DATA_CONTENT_TYPE,
          // Never overwrite a backup: CompleteMultipartUpload / PutObject fail if the key exists.
          IfNoneMatch: "*",
        },
        partSize: partSizeFor(this.settings.transfer.partSizeBytes, options.expectedBytes),
        queueSize: this.settings.transfer.concurrency,
      }).done();
    return this.streamedUpload(name, transfer, () => this.abortIncomplete(key));
  }

  async put(name: string, body: string | Buffer, options: PutOptions = {}): Promise<void> {
    await this.call({ what: "PutObject", action: "put", name, signal: options.signal }, (s) =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(name),
          Body: body,
          ContentType: options.contentType ?? TEXT_CONTENT_TYPE,
          // Sidecars and manifests stay in the default class: they must be readable at once, even
          // when the data sits in GLACIER (listing, retention and verify read them).
          IfNoneMatch: "*",
        }),
        { abortSignal: s },
      ),
    );
  }

  /** S3 user metadata cannot change after upload without copying the object: the checksum is a tag. */
  async recordChecksum(name: string, sha256: string): Promise<void> {
    await this.call({ what: "PutObjectTagging", action: "tag", name }, (s) =>
      this.client.send(
        new PutObjectTaggingCommand({
          Bucket: this.settings.bucket,
          Key: this.key(name),
          Tagging: { TagSet: [{ Key: "sha256", Value: sha256 }] },
        }),
        { abortSignal: s },
      ),
    );
  }

  list(): Promise<StoredObject[]> {
    return this.listPages(async (token) => {
      const page: ListObjectsV2CommandOutput = await this.timed("ListObjectsV2", (s) =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.settings.bucket,
            Prefix: this.settings.prefix,
            Delimiter: "/",
            ...(token ? { ContinuationToken: token } : {}),
          }),
          { abortSignal: s },
        ),
      );
      const objects = (page.Contents ?? []).flatMap((o) =>
        o.Key
          ? [
              storedObject(
                o.Key.slice(this.settings.prefix.length),
                o.Size ?? 0,
                o.LastModified ?? new Date(0),
                o.StorageClass,
                undefined,
              ),
            ]
          : [],
      );
      return { objects, next: page.IsTruncated ? page.NextContinuationToken : undefined };
    });
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const head = await this.callUnlessMissing({ what: "HeadObject", action: "stat", name }, (s) =>
      this.client.send(new HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }), {
        abortSignal: s,
      }),
    );
    if (!head) return undefined;
    return {
      name,
      sizeBytes: head.ContentLength ?? 0,
      lastModified: head.LastModified ?? new Date(0),
      storageClass: head.StorageClass ?? "STANDARD",
    };
  }

  async get(name: string, signal?: AbortSignal, range?: ByteRange): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    try {
      // The deadline covers the request until the body starts; the body is ended by `signal`, the
      // consumer destroying it, or socketTimeout when it stops flowing.
      const body = anySignal(this.signal, signal);
      const got = await this.timed("GetObject", (s) =>
        this.client.send(
          new GetObjectCommand({
            Bucket: this.settings.bucket,
            Key: this.key(name),
            ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
          }),
          { abortSignal: anySignal(s, body) as AbortSignal },
        ),
      );
      if (!(got.Body instanceof Readable)) throw new Error("the SDK returned no Node.js stream");
      return got.Body;
    } catch (err) {
      if ((err as { name?: string }).name === "InvalidObjectState") {
        throw new DestinationError(
          this.uri(name),
          `${this.uri(name)} is archived (GLACIER / DEEP_ARCHIVE): restore it first ` +
            `(aws s3api restore-object --bucket ${this.settings.bucket} --key ${this.key(name)} ...) and retry when it is readable`,
          { cause: err },
        );
      }
      throw this.explain("download", name, err);
    }
  }

  getText(name: string, options: GetTextOptions = {}): Promise<string | undefined> {
    return this.rangedText(name, options, async (s, last) => {
      const got = await this.client.send(
        new GetObjectCommand({
          Bucket: this.settings.bucket,
          Key: this.key(name),
          ...(last !== undefined ? { Range: `bytes=0-${last}` } : {}),
        }),
        { abortSignal: s },
      );
      return got.Body instanceof Readable ? got.Body : Readable.from([]);
    });
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    await this.callUnlessMissing({ what: "DeleteObject", action: "delete", name, signal }, (s) =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }), {
        abortSignal: s,
      }),
    );
  }

  /** Sets the bucket's lifecycle configuration (replacing the whole of it, as S3 does). */
  async applyLifecycle(
    configuration: NonNullable<PutBucketLifecycleConfigurationCommandInput["LifecycleConfiguration"]>,
  ): Promise<void> {
    await this.call(
      { what: "PutBucketLifecycleConfiguration", action: "put-bucket-lifecycle-configuration" },
      (s) =>
        this.client.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: this.settings.bucket,
            LifecycleConfiguration: configuration,
          }),
          { abortSignal: s },
        ),
    );
  }

  /** The bucket's lifecycle rules as S3 reports them (empty when none). */
  async lifecycleRules(): Promise<unknown[]> {
    try {
      return (
        (
          await this.timed("GetBucketLifecycleConfiguration", (s) =>
            this.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: this.settings.bucket }), {
              abortSignal: s,
            }),
          )
        ).Rules ?? []
      );
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchLifecycleConfiguration") return [];
      throw this.explain("get-bucket-lifecycle-configuration", undefined, err);
    }
  }
}
