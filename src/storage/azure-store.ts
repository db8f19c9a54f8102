import { type PassThrough, Readable } from "node:stream";
import { DefaultAzureCredential } from "@azure/identity";
import {
  type BlobItem,
  BlobServiceClient,
  type BlockBlobClient,
  type ContainerClient,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import type { Logger } from "../log/logger.js";
import { anySignal } from "../net/deadline.js";
import { CloudStore, DATA_CONTENT_TYPE, numberAt, storedObject, TEXT_CONTENT_TYPE } from "./cloud-store.js";
import { briefly, DestinationError } from "./destination-error.js";
import { withRetry } from "./retry.js";
import type { AzureTier } from "./storage-classes.js";
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

const statusOf = (err: unknown) => numberAt(err, "statusCode");

/** Azure Blob Storage through @azure/storage-blob: block blobs staged by `uploadStream`. */
export class AzureStore extends CloudStore implements BackupStore {
  readonly kind = "azure";
  private readonly container: ContainerClient;

  constructor(
    private readonly settings: AzureStoreSettings,
    logger?: Logger,
    /** The run's signal: every request ends when it fires. */
    signal?: AbortSignal,
  ) {
    super(
      "Azure",
      `azure://${settings.container}/${settings.prefix}`,
      "AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT",
      settings.transfer.requestTimeoutMs,
      logger,
      signal,
    );
    this.container = serviceClient(
      settings.auth,
      settings.transfer.attempts,
      settings.transfer.requestTimeoutMs,
    ).getContainerClient(settings.container);
  }

  private blob(name: string): BlockBlobClient {
    return this.container.getBlockBlobClient(`${this.settings.prefix}${name}`);
  }

  protected get endpoint(): string {
    return this.container.url.replace(/\?.*$/, "");
  }

  protected isMissing(err: unknown): boolean {
    return statusOf(err) === 404;
  }

  protected advice(action: string, name: string | undefined, err: unknown): string {
    const status = statusOf(err);
    const code = (err as { code?: unknown })?.code;
    if (code === "BlobNotFound" || (status === 404 && name !== undefined && code !== "ContainerNotFound")) {
      return MISSING_OBJECT_ADVICE;
    }
    if (code === "ContainerNotFound" || (status === 404 && action === "check the container")) {
      return `container '${this.settings.container}' does not exist: create it (az storage container create --name ${this.settings.container}) or fix BACKUP_AZURE_CONTAINER`;
    }
    if (status === 403 || code === "AuthenticationFailed" || code === "AuthorizationFailure") {
      return (
        `access denied (${String(code ?? status)}): check AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or the SAS token, ` +
        "or grant the identity 'Storage Blob Data Contributor' on the container"
      );
    }
    if ((err as { name?: string })?.name === "CredentialUnavailableError") {
      return (
        "no Azure credentials were found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, " +
        "or sign in (azure/login in a workflow) for DefaultAzureCredential"
      );
    }
    if (status === 409 || status === 412) {
      return "a blob with this name already exists; Lifeline never overwrites a backup";
    }
    return briefly(err);
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    // Listing works with a container-scoped SAS (permission l); Get Container Properties does not.
    await this.call({ what: "list", action: "check the container", signal }, (abortSignal) =>
      this.container
        .listBlobsFlat({ prefix: this.settings.prefix, abortSignal })
        .byPage({ maxPageSize: 1 })
        .next(),
    );
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
    const controller = new AbortController();
    // Archive cannot take metadata later: such blobs land Cool and move to Archive after the checksum.
    const tier = options.readable
      ? undefined
      : this.settings.tier === "Archive"
        ? "Cool"
        : this.settings.tier;
    let conflict = false;
    const transfer = (body: PassThrough) =>
      this.blob(name)
        .uploadStream(body, this.settings.transfer.partSizeBytes, this.settings.transfer.concurrency, {
          abortSignal: controller.signal,
          ...(tier ? { tier } : {}),
          blobHTTPHeaders: { blobContentType: options.contentType ?? DATA_CONTENT_TYPE },
          conditions: { ifNoneMatch: "*" }, // never overwrite an existing backup
        })
        .catch((err: unknown) => {
          // A blob of this name existed already: it is not ours, so cleanup must not touch it.
          conflict = statusOf(err) === 409 || statusOf(err) === 412;
          throw err;
        });
    return this.streamedUpload(
      name,
      transfer,
      async () => {
        if (!conflict) await this.discardStagedBlocks(name);
      },
      () => controller.abort(),
    );
  }

  async put(name: string, body: string | Buffer, options: PutOptions = {}): Promise<void> {
    await this.call({ what: "upload", action: "put", name, signal: options.signal }, (abortSignal) =>
      this.blob(name).upload(body, Buffer.byteLength(body), {
        abortSignal,
        blobHTTPHeaders: { blobContentType: options.contentType ?? TEXT_CONTENT_TYPE },
        conditions: { ifNoneMatch: "*" },
        // The account's default tier: sidecars and manifests must stay readable (never Archive).
      }),
    );
  }

  async recordChecksum(name: string, sha256: string): Promise<void> {
    await this.call({ what: "set metadata", action: "set metadata", name }, async (abortSignal) => {
      await this.blob(name).setMetadata({ sha256 }, { abortSignal });
    });
    if (this.settings.tier === "Archive") {
      await this.call({ what: "set the tier", action: "set metadata", name }, (abortSignal) =>
        this.blob(name).setAccessTier("Archive", { abortSignal }),
      );
    }
  }

  private describe(item: BlobItem): StoredObject {
    return storedObject(
      item.name.slice(this.settings.prefix.length),
      item.properties.contentLength ?? 0,
      item.properties.lastModified,
      item.properties.accessTier,
      item.metadata?.sha256 || undefined,
    );
  }

  list(): Promise<StoredObject[]> {
    return this.listPages(async (token) => {
      const page = await this.timed("list", (abortSignal) =>
        this.container
          .listBlobsFlat({ prefix: this.settings.prefix, includeMetadata: true, abortSignal })
          .byPage(token ? { continuationToken: token } : {})
          .next(),
      );
      if (page.done) return { objects: [], next: undefined };
      return {
        // Flat listing returns deeper names too; keep the prefix's own level, like the other stores.
        objects: page.value.segment.blobItems
          .filter((item) => !item.name.slice(this.settings.prefix.length).includes("/"))
          .map((item) => this.describe(item)),
        next: page.value.continuationToken || undefined,
      };
    });
  }

  async stat(name: string): Promise<StoredObject | undefined> {
    const p = await this.callUnlessMissing({ what: "stat", action: "stat", name }, (abortSignal) =>
      this.blob(name).getProperties({ abortSignal }),
    );
    if (!p) return undefined;
    return storedObject(
      name,
      p.contentLength ?? 0,
      p.lastModified ?? new Date(0),
      p.accessTier,
      p.metadata?.sha256 || undefined,
    );
  }

  async get(name: string, signal?: AbortSignal, range?: ByteRange): Promise<Readable> {
    if (range && range.end <= range.start) return Readable.from([]);
    try {
      // The deadline covers the request until the body starts; the body is ended by `signal` (or the
      // run's) and by the consumer destroying it.
      const body = anySignal(this.signal, signal);
      const response = await this.timed("download", (abortSignal) =>
        this.blob(name).download(range?.start ?? 0, range ? range.end - range.start : undefined, {
          abortSignal: anySignal(abortSignal, body) as AbortSignal,
        }),
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

  getText(name: string, options: GetTextOptions = {}): Promise<string | undefined> {
    return this.rangedText(name, options, async (abortSignal, last) => {
      const response = await this.blob(name).download(0, last === undefined ? undefined : last + 1, {
        abortSignal,
      });
      const stream = response.readableStreamBody;
      if (!stream) throw new Error("the SDK returned no Node.js stream");
      return stream as Readable;
    });
  }

  async delete(name: string, signal?: AbortSignal): Promise<void> {
    await this.call({ what: "delete", action: "delete", name, signal }, (abortSignal) =>
      this.blob(name).deleteIfExists({ abortSignal }),
    );
  }
}
