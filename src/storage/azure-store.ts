import { PassThrough, type Readable } from "node:stream";
import { DefaultAzureCredential } from "@azure/identity";
import {
  type BlobItem,
  BlobServiceClient,
  type BlockBlobClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { Logger } from "../log/logger.js";
import { abortReason, anySignal, DeadlineError, formatBound, withDeadline } from "../net/deadline.js";
import { briefly, DestinationError, networkCode } from "./destination-error.js";
import { withRetry } from "./retry.js";
import type { AzureTier } from "./storage-classes.js";
import {
  type BackupStore,
  MISSING_OBJECT_ADVICE,
  type PutOptions,
  probeWrite,
  type StoredObject,
  type StreamUpload,
} from "./store.js";
import { NETWORK_TIMEOUT_SETTING, type TransferSettings } from "./transfer.js";

/** How we authenticate, in the order the runbook's operators set things up. */
export type AzureAuth =
  | { readonly kind: "connection-string"; readonly connectionString: string }
  | { readonly kind: "shared-key"; readonly account: string; readonly key: string; readonly url: string }
  | { readonly kind: "sas"; readonly url: string; readonly sas: string }
  | { readonly kind: "default-credential"; readonly url: string };

export interface AzureStoreSettings {
  readonly container: string;
  readonly prefix: string;
  readonly tier: AzureTier;
  readonly auth: AzureAuth;
  readonly transfer: TransferSettings;
}

function serviceClient(auth: AzureAuth, attempts: number, timeoutMs: number): BlobServiceClient {
  const options = {
    retryOptions: { maxTries: attempts, tryTimeoutInMs: timeoutMs, retryDelayInMs: 500 },
  };
  switch (auth.kind) {
    case "connection-string":
      return BlobServiceClient.fromConnectionString(auth.connectionString, options);
    case "shared-key":
      return new BlobServiceClient(auth.url, new StorageSharedKeyCredential(auth.account, auth.key), options);
    case "sas":
      return new BlobServiceClient(`${auth.url}?${auth.sas.replace(/^\?/, "")}`, undefined, options);
    case "default-credential":
      return new BlobServiceClient(auth.url, new DefaultAzureCredential(), options);
  }
}

/** How long blocks sent before a failure may take to land (bounded by one block's transfer). */
const BLOCKS_SETTLE_MS = 2000;

function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown })?.statusCode;
  return typeof s === "number" ? s : undefined;
}

/** Azure Blob Storage through @azure/storage-blob: block blobs staged by `uploadStream`. */
export class AzureStore implements BackupStore {
  readonly kind = "azure";
  readonly location: string;
  private readonly container: ContainerClient;

  constructor(
    private readonly settings: AzureStoreSettings,
    private readonly logger?: Logger,
    /** The run's signal: every request ends when it fires. */
    private readonly signal?: AbortSignal,
  ) {
    this.location = `azure://${settings.container}/${settings.prefix}`;
    this.container = serviceClient(
      settings.auth,
      settings.transfer.attempts,
      settings.transfer.requestTimeoutMs,
    ).getContainerClient(settings.container);
  }

  uri(name: string): string {
    return `${this.location}${name}`;
  }

  private blob(name: string): BlockBlobClient {
    return this.container.getBlockBlobClient(`${this.settings.prefix}${name}`);
  }

  private get endpoint(): string {
    return this.container.url.replace(/\?.*$/, "");
  }

  /**
   * One request (with the SDK's retries) under the network deadline and the run's signal (plus
   * `signal`, e.g. the preflight's bound). Cleanup after a failed upload is `detached` from the run's
   * signal: it must still discard the staged blocks.
   */
  private timed<T>(
    what: string,
    request: (abortSignal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
    detached = false,
  ): Promise<T> {
    return withDeadline(
      `Azure ${what} at ${this.endpoint}`,
      this.settings.transfer.requestTimeoutMs,
      request,
      {
        signal: detached ? signal : anySignal(this.signal, signal),
        setting: NETWORK_TIMEOUT_SETTING,
      },
    );
  }

  private explain(action: string, name: string | undefined, err: unknown): Error {
    // A cancelled run is reported as such (the adapters exit for it), not as this destination's failure.
    if (this.signal?.aborted) return abortReason(this.signal);
    const where = name === undefined ? this.location : this.uri(name);
    const status = statusOf(err);
    const code = (err as { code?: unknown })?.code;
    const net = networkCode(err);
    let advice: string;
    if (err instanceof DeadlineError) {
      advice = `${this.endpoint} did not answer within ${formatBound(err.timeoutMs, err.setting)}: check AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT and the network`;
    } else if (net) {
      advice = `cannot reach ${this.container.url.replace(/\?.*$/, "")} (${net}): check AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT and the network`;
    } else if (
      code === "BlobNotFound" ||
      (status === 404 && name !== undefined && code !== "ContainerNotFound")
    ) {
      advice = MISSING_OBJECT_ADVICE;
    } else if (code === "ContainerNotFound" || (status === 404 && action === "check the container")) {
      advice = `container '${this.settings.container}' does not exist: create it (az storage container create --name ${this.settings.container}) or fix BACKUP_AZURE_CONTAINER`;
    } else if (status === 403 || code === "AuthenticationFailed" || code === "AuthorizationFailure") {
      advice =
        `access denied (${String(code ?? status)}): check AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or the SAS token, ` +
        "or grant the identity 'Storage Blob Data Contributor' on the container";
    } else if ((err as { name?: string })?.name === "CredentialUnavailableError") {
      advice =
        "no Azure credentials were found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, " +
        "or sign in (azure/login in a workflow) for DefaultAzureCredential";
    } else if (status === 409 || status === 412) {
      advice = "a blob with this name already exists; Lifeline never overwrites a backup";
    } else {
      advice = briefly(err);
    }
    return new DestinationError(where, `Azure ${action} failed for ${where}: ${advice}`, { cause: err });
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    try {
      // Listing works with a container-scoped SAS (permission l); Get Container Properties does not.
      await this.timed(
        "list",
        (abortSignal) =>
          this.container
            .listBlobsFlat({ prefix: this.settings.prefix, abortSignal })
            .byPage({ maxPageSize: 1 })
            .next(),
        signal,
      );
    } catch (err) {
      throw this.explain("check the container", undefined, err);
    }
    await probeWrite(this, signal);
  }

  /**
   * Discards the blocks a failed upload staged: committing an empty block list drops every
   * uncommitted block (otherwise kept, and billed, for a week), then the empty blob is deleted.
   */
  private async discardStagedBlocks(name: string): Promise<void> {
    const blob = this.blob(name);
    // uploadStream rejects at once while blocks already sent may still land: wait for them first.
    await new Promise((r) => setTimeout(r, BLOCKS_SETTLE_MS));
    await withRetry(
      async () => {
        const cleanup = <T>(what: string, request: (abortSignal: AbortSignal) => Promise<T>) =>
          this.timed(what, request, undefined, true);
        const staged = await cleanup("get the block list", (abortSignal) =>
          blob.getBlockList("all", { abortSignal }),
        ).catch((err: unknown) => {
          if (statusOf(err) === 404) return { uncommittedBlocks: [], committedBlocks: [] };
          throw err;
        });
        // An empty commit drops the uncommitted blocks; the empty blob it leaves is ours (uploads
        // never overwrite), and is deleted; done only when nothing of this name is left.
        if ((staged.uncommittedBlocks ?? []).length > 0) {
          await cleanup("commit an empty block list", (abortSignal) =>
            blob.commitBlockList([], { abortSignal }),
          );
        }
        await cleanup("delete", (abortSignal) => blob.deleteIfExists({ abortSignal }));
        if (await cleanup("check", (abortSignal) => blob.exists({ abortSignal }))) {
          throw new Error("the blob is still there");
        }
      },
      { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 },
    ).catch((err: unknown) =>
      this.logger?.error(
        `Could not discard the staged blocks of ${this.uri(name)}: ${briefly(err)}; Azure drops uncommitted blocks after 7 days`,
      ),
    );
  }

  async upload(name: string, options: PutOptions = {}): Promise<StreamUpload> {
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    const controller = new AbortController();
    // Archive cannot take metadata later: such blobs land Cool and move to Archive after the checksum.
    const tier = this.settings.tier === "Archive" ? "Cool" : this.settings.tier;
    let aborted: Error | undefined;
    let conflict = false;
    const done = this.blob(name)
      .uploadStream(body, this.settings.transfer.partSizeBytes, this.settings.transfer.concurrency, {
        abortSignal: controller.signal,
        tier,
        blobHTTPHeaders: { blobContentType: options.contentType ?? "application/octet-stream" },
        conditions: { ifNoneMatch: "*" }, // never overwrite an existing backup
      })
      .then(
        () => undefined,
        (err: unknown) => {
          // A blob of this name existed already: it is not ours, so cleanup must not touch it.
          conflict = statusOf(err) === 409 || statusOf(err) === 412;
          throw aborted ?? this.explain("upload", name, err);
        },
      );
    done.catch(() => {});
    return {
      name,
      stream: body,
      done,
      abort: async (reason: Error) => {
        aborted ??= reason;
        controller.abort();
        body.destroy(reason);
        await done.catch(() => {});
        if (!conflict) await this.discardStagedBlocks(name);
      },
    };
  }

  async put(name: string, body: string | Buffer, options: PutOptions = {}): Promise<void> {
    try {
      await this.timed(
        "upload",
        (abortSignal) =>
          this.blob(name).upload(body, Buffer.byteLength(body), {
            abortSignal,
            blobHTTPHeaders: { blobContentType: options.contentType ?? "text/plain; charset=utf-8" },
            conditions: { ifNoneMatch: "*" },
            // The account's default tier: sidecars and manifests must stay readable (never Archive).
          }),
        options.signal,
      );
    } catch (err) {
      throw this.explain("put", name, err);
    }
  }

  async recordChecksum(name: string, sha256: string): Promise<void> {
    try {
      await this.timed("set metadata", (abortSignal) =>
        this.blob(name).setMetadata({ sha256 }, { abortSignal }),
      );
      if (this.settings.tier === "Archive") {
        await this.timed("set the tier", (abortSignal) =>
          this.blob(name).setAccessTier("Archive", { abortSignal }),
        );
      }
    } catch (err) {
      throw this.explain("set metadata", name, err);
    }
  }

  private describe(item: BlobItem): StoredObject {
    const sha = item.metadata?.sha256;
    return {
      name: item.name.slice(this.settings.prefix.length),
      sizeBytes: item.properties.contentLength ?? 0,
      lastModified: item.properties.lastModified,
      ...(item.properties.accessTier ? { storageClass: item.properties.accessTier } : {}),
      ...(sha ? { sha256: sha } : {}),
    };
  }

  async list(): Promise<StoredObject[]> {
    const out: StoredObject[] = [];
    try {
      // Page by page, each under its own deadline: a long listing is not one request.
      let continuationToken: string | undefined;
      do {
        const token = continuationToken;
        const page = await this.timed("list", (abortSignal) =>
          this.container
            .listBlobsFlat({ prefix: this.settings.prefix, includeMetadata: true, abortSignal })
            .byPage(token ? { continuationToken: token } : {})
            .next(),
        );
        if (page.done) break;
        for (const item of page.value.segment.blobItems) {
          // Flat listing returns deeper names too; keep the prefix's own level, like the other stores.
          if (item.name.slice(this.settings.prefix.length).includes("/")) continue;
          out.push(this.describe(item));
        }
        continuationToken = page.value.continuationToken || undefined;
      } while (continuationToken);
    } catch (err) {
      throw this.explain("list", undefined, err);
    }
    return out;
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    try {
      const p = await this.timed("stat", (abortSignal) => this.blob(name).getProperties({ abortSignal }));
      const sha = p.metadata?.sha256;
      return {
        name,
        sizeBytes: p.contentLength ?? 0,
        lastModified: p.lastModified ?? new Date(0),
        ...(p.accessTier ? { storageClass: p.accessTier } : {}),
        ...(sha ? { sha256: sha } : {}),
      };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.explain("stat", name, err);
    }
  }

  async get(name: string, signal?: AbortSignal): Promise<Readable> {
    try {
      // The deadline covers the request until the body starts; the body is ended by `signal` (or the
      // run's) and by the consumer destroying it.
      const body = anySignal(this.signal, signal);
      const response = await this.timed("download", (abortSignal) =>
        this.blob(name).download(0, undefined, { abortSignal: anySignal(abortSignal, body) as AbortSignal }),
      );
      const stream = response.readableStreamBody;
      if (!stream) throw new Error("the SDK returned no Node.js stream");
      return stream as Readable;
    } catch (err) {
      if ((err as { code?: unknown }).code === "BlobArchived") {
        throw new DestinationError(
          this.uri(name),
          `${this.uri(name)} is in the Archive tier: rehydrate it (az storage blob set-tier --tier Cool --rehydrate-priority High) and retry when it is readable`,
          { cause: err },
        );
      }
      throw this.explain("download", name, err);
    }
  }

  async getText(name: string): Promise<string | undefined> {
    try {
      return (
        await this.timed("download", (abortSignal) =>
          this.blob(name).downloadToBuffer(0, undefined, { abortSignal }),
        )
      ).toString("utf8");
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.explain("download", name, err);
    }
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.timed("delete", (abortSignal) => this.blob(name).deleteIfExists({ abortSignal }), signal);
    } catch (err) {
      throw this.explain("delete", name, err);
    }
  }
}
