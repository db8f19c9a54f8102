import { Writable } from "node:stream";
import { DestinationError } from "./destination-error.js";
import type { StreamUpload } from "./store.js";

/** What became of one upload fed by a FanOut. */
export interface BranchOutcome {
  readonly upload: StreamUpload;
  /** Where it went, for messages: the object's URI. */
  readonly uri: string;
  readonly bytes: number;
  readonly seconds: number;
  readonly error?: Error;
}

interface Branch {
  readonly upload: StreamUpload;
  readonly uri: string;
  bytes: number;
  error: Error | undefined;
  /** Resolves the pending drain wait, if any, when the branch fails. */
  release: (() => void) | undefined;
  aborting: Promise<void> | undefined;
  /** Resolves when the branch is failed (by its upload, a stall, or the primary). */
  readonly failed: Promise<void>;
  markFailed: () => void;
}

/** How long to wait for an aborted upload to clean up before reporting anyway (a hung SDK call). */
const ABORT_WAIT_CAP_MS = 60_000;

export interface FanOutOptions {
  /** A branch that accepts no bytes for this long is failed so that it cannot stall the backup. */
  readonly stallTimeoutMs: number;
  /** Called once per branch that fails while bytes are still flowing. */
  readonly onBranchFailure?: (uri: string, error: Error) => void;
}

/**
 * Writes every chunk to the primary destination (the local file) and to each upload, concurrently,
 * and takes the next chunk only when all of them have room: the slowest destination sets the pace,
 * so memory stays bounded by the uploads' own buffers. A failing upload is cut loose (aborted, its
 * error kept) and the others go on; a failing primary fails the whole stream and aborts every upload.
 */
export class FanOut extends Writable {
  private readonly branches: Branch[];
  private readonly started = Date.now();
  private readonly finishedAt = new Map<Branch, number>();

  constructor(
    private readonly primary: Writable,
    uploads: readonly { readonly upload: StreamUpload; readonly uri: string }[],
    private readonly options: FanOutOptions,
  ) {
    super({ highWaterMark: 1 << 20 });
    this.branches = uploads.map(({ upload, uri }) => {
      let markFailed = () => {};
      const failed = new Promise<void>((resolve) => {
        markFailed = resolve;
      });
      return {
        upload,
        uri,
        bytes: 0,
        error: undefined,
        release: undefined,
        aborting: undefined,
        failed,
        markFailed,
      };
    });
    primary.on("error", (err) => this.destroy(err));
    for (const branch of this.branches) {
      // Errors on the body stream follow from the upload failing; `done` carries the real cause.
      branch.upload.stream.on("error", () => {});
      branch.upload.done.then(
        () => this.finishedAt.set(branch, Date.now()),
        (err: unknown) => this.fail(branch, err as Error),
      );
    }
  }

  private fail(branch: Branch, error: Error): void {
    if (branch.error) return;
    branch.error = error;
    this.finishedAt.set(branch, Date.now());
    branch.release?.();
    branch.markFailed();
    branch.aborting = branch.upload.abort(error);
    this.options.onBranchFailure?.(branch.uri, error);
  }

  private live(): Branch[] {
    return this.branches.filter((b) => !b.error);
  }

  /** Resolves when the stream has room again, or the branch failed (then it no longer counts). */
  private drained(branch: Branch): Promise<void> {
    return new Promise((resolve) => {
      const stream = branch.upload.stream;
      const timer = setTimeout(() => {
        this.fail(
          branch,
          new DestinationError(
            branch.uri,
            `Upload to ${branch.uri} made no progress for ${this.options.stallTimeoutMs / 1000} s: it was abandoned so that ` +
              "the local backup could finish; check the network and the destination",
          ),
        );
      }, this.options.stallTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        stream.off("drain", done);
        branch.release = undefined;
        resolve();
      };
      branch.release = done;
      stream.once("drain", done);
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const waits: Promise<void>[] = [];
    if (!this.primary.write(chunk)) {
      waits.push(
        new Promise((resolve) => {
          const done = () => {
            this.primary.off("drain", done);
            this.primary.off("close", done);
            resolve();
          };
          this.primary.once("drain", done);
          this.primary.once("close", done); // destroyed on error: the error handler fails us
        }),
      );
    }
    for (const branch of this.live()) {
      branch.bytes += chunk.length;
      if (!branch.upload.stream.write(chunk)) waits.push(this.drained(branch));
    }
    if (waits.length === 0) callback();
    else Promise.all(waits).then(() => callback(), callback);
  }

  // The uploads are NOT ended here: the end of the stream only means pg_dump stopped writing, not that
  // the dump is complete (its exit status and trailer are judged after). Ending an upload stores the
  // object under its final name, so that waits for finishUploads(), after the local file is committed.
  override _final(callback: (error?: Error | null) => void): void {
    this.primary.end();
    const settle = (err?: Error | null) => {
      this.primary.off("finish", settle);
      this.primary.off("error", settle);
      callback(err ?? null);
    };
    this.primary.once("finish", settle);
    this.primary.once("error", settle);
  }

  /** Completes every upload still going: call only once the backup is known good and committed locally. */
  finishUploads(): void {
    for (const branch of this.live()) branch.upload.stream.end();
  }

  /** Aborts every upload still going (also after the stream finished): the backup is not good. */
  abortUploads(reason: Error): void {
    for (const branch of this.live()) this.fail(branch, reason);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // pipeline() destroys every stream once it is done: after a clean finish the uploads wait for
    // finishUploads() or abortUploads().
    if (error || !this.writableFinished) {
      const reason = error ?? new Error("The backup stream was stopped before it ended");
      for (const branch of this.live()) this.fail(branch, reason);
    }
    if (!this.primary.destroyed) this.primary.destroy(error ?? undefined);
    callback(error);
  }

  /**
   * Waits until every upload has completed or been aborted (leftovers removed) and says how each went.
   * Call after finishUploads() or abortUploads().
   */
  async outcomes(): Promise<BranchOutcome[]> {
    return Promise.all(
      this.branches.map(async (branch): Promise<BranchOutcome> => {
        // A failed branch is not waited for: a stalled upload may never settle on its own.
        let deadline: NodeJS.Timeout | undefined;
        const error = await Promise.race([
          branch.upload.done.then(
            () => undefined,
            (err: unknown) => err as Error,
          ),
          branch.failed.then(() => branch.error),
          // After the last byte, only the parts in flight remain: an upload that does not complete
          // within the stall timeout is hung (a black-holed connection) and is given up.
          new Promise<Error>((resolve) => {
            deadline = setTimeout(
              () =>
                resolve(
                  new DestinationError(
                    branch.uri,
                    `Upload to ${branch.uri} did not complete within ${this.options.stallTimeoutMs / 1000} s after its last byte; it was abandoned`,
                  ),
                ),
              this.options.stallTimeoutMs,
            );
          }),
        ]);
        clearTimeout(deadline);
        if (error) this.fail(branch, error);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          branch.aborting,
          new Promise((resolve) => {
            timer = setTimeout(resolve, Math.min(ABORT_WAIT_CAP_MS, this.options.stallTimeoutMs));
          }),
        ]);
        clearTimeout(timer);
        const end = this.finishedAt.get(branch) ?? Date.now();
        return {
          upload: branch.upload,
          uri: branch.uri,
          bytes: branch.bytes,
          seconds: (end - this.started) / 1000,
          ...(branch.error ? { error: branch.error } : {}),
        };
      }),
    );
  }
}
