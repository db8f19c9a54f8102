export const id = 342;
export const ids = [342];
export const modules = {

/***/ 5342:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   AzureStore: () => (/* binding */ AzureStore)
/* harmony export */ });
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _azure_identity__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3016);
/* harmony import */ var _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(728);
/* harmony import */ var _net_deadline_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(7879);
/* harmony import */ var _cloud_store_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(9284);
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(6822);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(3091);
/* harmony import */ var _store_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(6336);








function serviceClient(auth, attempts, timeoutMs) {
    const options = {
        retryOptions: { maxTries: attempts, tryTimeoutInMs: timeoutMs, retryDelayInMs: 500 },
    };
    switch (auth.kind) {
        case "connection-string":
            return _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__/* .BlobServiceClient */ .wS.fromConnectionString(auth.connectionString, options);
        case "shared-key":
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__/* .BlobServiceClient */ .wS(auth.url, new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__/* .StorageSharedKeyCredential */ .Z3(auth.account, auth.key), options);
        case "sas":
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__/* .BlobServiceClient */ .wS(`${auth.url}?${auth.sas.replace(/^\?/, "")}`, undefined, options);
        case "default-credential":
            return new _azure_storage_blob__WEBPACK_IMPORTED_MODULE_2__/* .BlobServiceClient */ .wS(auth.url, new _azure_identity__WEBPACK_IMPORTED_MODULE_1__/* .DefaultAzureCredential */ .gv(), options);
    }
}
/** How long blocks sent before a failure may take to land (bounded by one block's transfer). */
const BLOCKS_SETTLE_MS = 2000;
const statusOf = (err) => (0,_cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .numberAt */ .tk)(err, "statusCode");
/** Azure Blob Storage through @azure/storage-blob: block blobs staged by `uploadStream`. */
class AzureStore extends _cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .CloudStore */ .Dy {
    settings;
    kind = "azure";
    container;
    constructor(settings, logger, 
    /** The run's signal: every request ends when it fires. */
    signal) {
        super("Azure", `azure://${settings.container}/${settings.prefix}`, "AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT", settings.transfer.requestTimeoutMs, logger, signal);
        this.settings = settings;
        this.container = serviceClient(settings.auth, settings.transfer.attempts, settings.transfer.requestTimeoutMs).getContainerClient(settings.container);
    }
    blob(name) {
        return this.container.getBlockBlobClient(`${this.settings.prefix}${name}`);
    }
    get endpoint() {
        return this.container.url.replace(/\?.*$/, "");
    }
    isMissing(err) {
        return statusOf(err) === 404;
    }
    advice(action, name, err) {
        const status = statusOf(err);
        const code = err?.code;
        if (code === "BlobNotFound" || (status === 404 && name !== undefined && code !== "ContainerNotFound")) {
            return _store_js__WEBPACK_IMPORTED_MODULE_7__/* .MISSING_OBJECT_ADVICE */ .iE;
        }
        if (code === "ContainerNotFound" || (status === 404 && action === "check the container")) {
            return `container '${this.settings.container}' does not exist: create it (az storage container create --name ${this.settings.container}) or fix BACKUP_AZURE_CONTAINER`;
        }
        if (status === 403 || code === "AuthenticationFailed" || code === "AuthorizationFailure") {
            return (`access denied (${String(code ?? status)}): check AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or the SAS token, ` +
                "or grant the identity 'Storage Blob Data Contributor' on the container");
        }
        if (err?.name === "CredentialUnavailableError") {
            return ("no Azure credentials were found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, " +
                "or sign in (azure/login in a workflow) for DefaultAzureCredential");
        }
        if (status === 409 || status === 412) {
            return "a blob with this name already exists; Lifeline never overwrites a backup";
        }
        return (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_5__/* .briefly */ .m_)(err);
    }
    async preflight(signal) {
        // Listing works with a container-scoped SAS (permission l); Get Container Properties does not.
        await this.call({ what: "list", action: "check the container", signal }, (abortSignal) => this.container
            .listBlobsFlat({ prefix: this.settings.prefix, abortSignal })
            .byPage({ maxPageSize: 1 })
            .next());
        await (0,_store_js__WEBPACK_IMPORTED_MODULE_7__/* .probeWrite */ ._w)(this, signal);
    }
    /**
     * Discards the blocks a failed upload staged: committing an empty block list drops every
     * uncommitted block (otherwise kept, and billed, for a week), then the empty blob is deleted.
     */
    async discardStagedBlocks(name) {
        const blob = this.blob(name);
        // uploadStream rejects at once while blocks already sent may still land: wait for them first.
        await new Promise((r) => setTimeout(r, BLOCKS_SETTLE_MS));
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_6__/* .withRetry */ .b)(async () => {
            const cleanup = (what, request) => this.timed(what, request, undefined, true);
            const staged = await cleanup("get the block list", (abortSignal) => blob.getBlockList("all", { abortSignal })).catch((err) => {
                if (statusOf(err) === 404)
                    return { uncommittedBlocks: [], committedBlocks: [] };
                throw err;
            });
            // An empty commit drops the uncommitted blocks; the empty blob it leaves is ours (uploads
            // never overwrite), and is deleted; done only when nothing of this name is left.
            if ((staged.uncommittedBlocks ?? []).length > 0) {
                await cleanup("commit an empty block list", (abortSignal) => blob.commitBlockList([], { abortSignal }));
            }
            await cleanup("delete", (abortSignal) => blob.deleteIfExists({ abortSignal }));
            if (await cleanup("check", (abortSignal) => blob.exists({ abortSignal }))) {
                throw new Error("the blob is still there");
            }
        }, { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 }).catch((err) => this.logger?.error(`Could not discard the staged blocks of ${this.uri(name)}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_5__/* .briefly */ .m_)(err)}; Azure drops uncommitted blocks after 7 days`));
    }
    async upload(name, options = {}) {
        const controller = new AbortController();
        // Archive cannot take metadata later: such blobs land Cool and move to Archive after the checksum.
        const tier = options.readable
            ? undefined
            : this.settings.tier === "Archive"
                ? "Cool"
                : this.settings.tier;
        let conflict = false;
        const transfer = (body) => this.blob(name)
            .uploadStream(body, this.settings.transfer.partSizeBytes, this.settings.transfer.concurrency, {
            abortSignal: controller.signal,
            ...(tier ? { tier } : {}),
            blobHTTPHeaders: { blobContentType: options.contentType ?? _cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .DATA_CONTENT_TYPE */ .AT },
            conditions: { ifNoneMatch: "*" }, // never overwrite an existing backup
        })
            .catch((err) => {
            // A blob of this name existed already: it is not ours, so cleanup must not touch it.
            conflict = statusOf(err) === 409 || statusOf(err) === 412;
            throw err;
        });
        return this.streamedUpload(name, transfer, async () => {
            if (!conflict)
                await this.discardStagedBlocks(name);
        }, () => controller.abort());
    }
    async put(name, body, options = {}) {
        await this.call({ what: "upload", action: "put", name, signal: options.signal }, (abortSignal) => this.blob(name).upload(body, Buffer.byteLength(body), {
            abortSignal,
            blobHTTPHeaders: { blobContentType: options.contentType ?? _cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .TEXT_CONTENT_TYPE */ .tK },
            conditions: { ifNoneMatch: "*" },
            // The account's default tier: sidecars and manifests must stay readable (never Archive).
        }));
    }
    async recordChecksum(name, sha256) {
        await this.call({ what: "set metadata", action: "set metadata", name }, async (abortSignal) => {
            await this.blob(name).setMetadata({ sha256 }, { abortSignal });
        });
        if (this.settings.tier === "Archive") {
            await this.call({ what: "set the tier", action: "set metadata", name }, (abortSignal) => this.blob(name).setAccessTier("Archive", { abortSignal }));
        }
    }
    describe(item) {
        return (0,_cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .storedObject */ .j1)(item.name.slice(this.settings.prefix.length), item.properties.contentLength ?? 0, item.properties.lastModified, item.properties.accessTier, item.metadata?.sha256 || undefined);
    }
    list() {
        return this.listPages(async (token) => {
            const page = await this.timed("list", (abortSignal) => this.container
                .listBlobsFlat({ prefix: this.settings.prefix, includeMetadata: true, abortSignal })
                .byPage(token ? { continuationToken: token } : {})
                .next());
            if (page.done)
                return { objects: [], next: undefined };
            return {
                // Flat listing returns deeper names too; keep the prefix's own level, like the other stores.
                objects: page.value.segment.blobItems
                    .filter((item) => !item.name.slice(this.settings.prefix.length).includes("/"))
                    .map((item) => this.describe(item)),
                next: page.value.continuationToken || undefined,
            };
        });
    }
    async stat(name) {
        const p = await this.callUnlessMissing({ what: "stat", action: "stat", name }, (abortSignal) => this.blob(name).getProperties({ abortSignal }));
        if (!p)
            return undefined;
        return (0,_cloud_store_js__WEBPACK_IMPORTED_MODULE_4__/* .storedObject */ .j1)(name, p.contentLength ?? 0, p.lastModified ?? new Date(0), p.accessTier, p.metadata?.sha256 || undefined);
    }
    async get(name, signal, range) {
        if (range && range.end <= range.start)
            return node_stream__WEBPACK_IMPORTED_MODULE_0__.Readable.from([]);
        try {
            // The deadline covers the request until the body starts; the body is ended by `signal` (or the
            // run's) and by the consumer destroying it.
            const body = (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .anySignal */ .JG)(this.signal, signal);
            const response = await this.timed("download", (abortSignal) => this.blob(name).download(range?.start ?? 0, range ? range.end - range.start : undefined, {
                abortSignal: (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .anySignal */ .JG)(abortSignal, body),
            }));
            const stream = response.readableStreamBody;
            if (!stream)
                throw new Error("the SDK returned no Node.js stream");
            return stream;
        }
        catch (err) {
            if (err.code === "BlobArchived") {
                throw new _destination_error_js__WEBPACK_IMPORTED_MODULE_5__/* .DestinationError */ .lt(this.uri(name), `${this.uri(name)} is in the Archive tier: rehydrate it (az storage blob set-tier --tier Cool --rehydrate-priority High) and retry when it is readable`, { cause: err });
            }
            throw this.explain("download", name, err);
        }
    }
    getText(name, options = {}) {
        return this.rangedText(name, options, async (abortSignal, last) => {
            const response = await this.blob(name).download(0, last === undefined ? undefined : last + 1, {
                abortSignal,
            });
            const stream = response.readableStreamBody;
            if (!stream)
                throw new Error("the SDK returned no Node.js stream");
            return stream;
        });
    }
    async delete(name, signal) {
        await this.call({ what: "delete", action: "delete", name, signal }, (abortSignal) => this.blob(name).deleteIfExists({ abortSignal }));
    }
}


/***/ }),

/***/ 9284:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   AT: () => (/* binding */ DATA_CONTENT_TYPE),
/* harmony export */   Dy: () => (/* binding */ CloudStore),
/* harmony export */   j1: () => (/* binding */ storedObject),
/* harmony export */   tK: () => (/* binding */ TEXT_CONTENT_TYPE),
/* harmony export */   tk: () => (/* binding */ numberAt)
/* harmony export */ });
/* unused harmony export readAtMost */
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _net_deadline_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(7879);
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6822);
/* harmony import */ var _transfer_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(8130);




/** Content type of backup data, unless the caller names one. */
const DATA_CONTENT_TYPE = "application/octet-stream";
/** Content type of sidecars and manifests, unless the caller names one. */
const TEXT_CONTENT_TYPE = "text/plain; charset=utf-8";
/** A numeric field of an SDK error (an HTTP status, as GCS's `code` or Azure's `statusCode`), if it is one. */
function numberAt(err, field) {
    const value = err?.[field];
    return typeof value === "number" ? value : undefined;
}
/**
 * The first `limit` bytes of a stream (all of it when shorter); the stream is destroyed as soon as
 * they arrived, so a provider that ignored the byte range sends no more than that into memory.
 */
async function readAtMost(stream, limit = Number.POSITIVE_INFINITY) {
    const chunks = [];
    let total = 0;
    try {
        for await (const chunk of stream) {
            const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
            chunks.push(bytes);
            total += bytes.length;
            if (total >= limit)
                break;
        }
    }
    finally {
        stream.destroy();
    }
    const all = Buffer.concat(chunks, total);
    return total > limit ? all.subarray(0, limit) : all;
}
/** Whether a ranged read failed only because the object is empty (HTTP 416: it has no byte 0). */
function isUnsatisfiableRange(err) {
    const e = err;
    return (e?.$metadata?.httpStatusCode === 416 ||
        numberAt(err, "statusCode") === 416 ||
        e?.code === 416 ||
        e?.name === "InvalidRange" ||
        e?.code === "InvalidRange");
}
/** A stored object from what a provider reports, leaving out the class and checksum it did not report. */
function storedObject(name, sizeBytes, lastModified, storageClass, sha256) {
    return {
        name,
        sizeBytes,
        lastModified,
        ...(storageClass ? { storageClass } : {}),
        ...(sha256 !== undefined ? { sha256 } : {}),
    };
}
/**
 * What S3, GCS and Azure stores do alike: URIs under a location, requests under the network deadline
 * and the run's signal, errors that name the destination and say what to do, listings page by page,
 * and streamed uploads that leave nothing behind when aborted. A store adds its SDK's calls and the
 * advice for its provider's own errors.
 */
class CloudStore {
    provider;
    location;
    endpointSettings;
    requestTimeoutMs;
    logger;
    signal;
    constructor(
    /** "S3", "GCS", "Azure": how messages name the provider. */
    provider, location, 
    /** The settings that say where the endpoint is, named when it does not answer. */
    endpointSettings, requestTimeoutMs, logger, 
    /** The run's signal: every request ends when it fires. */
    signal) {
        this.provider = provider;
        this.location = location;
        this.endpointSettings = endpointSettings;
        this.requestTimeoutMs = requestTimeoutMs;
        this.logger = logger;
        this.signal = signal;
    }
    uri(name) {
        return `${this.location}${name}`;
    }
    /**
     * One request under the network deadline and the run's signal (plus `signal`, e.g. the preflight's
     * bound): it never waits on a silent endpoint beyond the bound. Cleanup after a failed or cancelled
     * upload is `detached` from the run's signal: it must still remove what the upload left.
     */
    timed(what, request, signal, detached = false) {
        return (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_1__/* .withDeadline */ .NE)(`${this.provider} ${what} at ${this.endpoint}`, this.requestTimeoutMs, request, {
            signal: detached ? signal : (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_1__/* .anySignal */ .JG)(this.signal, signal),
            setting: _transfer_js__WEBPACK_IMPORTED_MODULE_3__/* .NETWORK_TIMEOUT_SETTING */ .UQ,
        });
    }
    /** Turns an SDK error into one that names the destination and says what to do. */
    explain(action, name, err) {
        // A cancelled run is reported as such (the adapters exit for it), not as this destination's failure.
        if (this.signal?.aborted)
            return (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_1__/* .abortReason */ .Js)(this.signal);
        const where = name === undefined ? this.location : this.uri(name);
        const net = (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .networkCode */ .e8)(err);
        let advice;
        if (err instanceof _net_deadline_js__WEBPACK_IMPORTED_MODULE_1__/* .DeadlineError */ .j3) {
            advice = `${this.endpoint} did not answer within ${(0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_1__/* .formatBound */ .Sp)(err.timeoutMs, err.setting)}: check ${this.endpointSettings} and the network`;
        }
        else if (net) {
            advice = `cannot reach ${this.endpoint} (${net}): check ${this.endpointSettings} and the network`;
        }
        else {
            advice = this.advice(action, name, err);
        }
        return new _destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .DestinationError */ .lt(where, `${this.provider} ${action} failed for ${where}: ${advice}`, {
            cause: err,
        });
    }
    /** One timed request whose failure is explained. */
    async call(step, request) {
        try {
            return await this.timed(step.what, request, step.signal);
        }
        catch (err) {
            throw this.explain(step.action, step.name, err);
        }
    }
    /** As `call`, but a missing object is undefined rather than an error. */
    async callUnlessMissing(step, request) {
        try {
            return await this.timed(step.what, request, step.signal);
        }
        catch (err) {
            if (this.isMissing(err))
                return undefined;
            throw this.explain(step.action, step.name, err);
        }
    }
    /**
     * A small object as UTF-8 (see BackupStore.getText): `read` requests bytes 0..`last` (inclusive;
     * undefined: the whole object) and returns the body as a stream. With `maxBytes`, at most
     * `maxBytes` + 1 bytes are requested and read, so a huge object swapped in never fills memory.
     */
    async rangedText(name, options, read) {
        const { maxBytes } = options;
        try {
            const body = await this.timed("download", async (s) => readAtMost(await read(s, maxBytes), (maxBytes ?? Number.POSITIVE_INFINITY) + 1));
            return body.toString("utf8");
        }
        catch (err) {
            if (this.isMissing(err))
                return undefined;
            if (maxBytes !== undefined && isUnsatisfiableRange(err))
                return "";
            throw this.explain("download", name, err);
        }
    }
    /** Every object of a listing, page by page, each page under its own deadline (a long listing is not one request). */
    async listPages(page) {
        const out = [];
        try {
            let token;
            do {
                const got = await page(token);
                out.push(...got.objects);
                token = got.next;
            } while (token);
        }
        catch (err) {
            throw this.explain("list", undefined, err);
        }
        return out;
    }
    /**
     * A streamed upload: `transfer` sends what is written into the body and settles when the provider
     * has it. It fails as soon as the transfer does; removing its leftovers is `abort`'s job, which the
     * caller runs: it stops the transfer (`stop`, then the body is destroyed with the reason — an
     * error, not a plain end, which would complete the upload with partial data), waits for it to
     * settle and runs `cleanup`.
     */
    streamedUpload(name, transfer, cleanup, stop) {
        const body = new node_stream__WEBPACK_IMPORTED_MODULE_0__.PassThrough({ highWaterMark: 1 << 20 });
        let aborted;
        const done = transfer(body).then(() => undefined, (err) => {
            throw aborted ?? this.explain("upload", name, err);
        });
        done.catch(() => { }); // the caller awaits it; until then a rejection is not unhandled
        return {
            name,
            stream: body,
            done,
            abort: async (reason) => {
                aborted ??= reason;
                stop?.();
                body.destroy(reason);
                await done.catch(() => { });
                await cleanup();
            },
        };
    }
}


/***/ }),

/***/ 3091:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   b: () => (/* binding */ withRetry)
/* harmony export */ });
/* harmony import */ var node_timers_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(8500);
/* harmony import */ var node_timers_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_timers_promises__WEBPACK_IMPORTED_MODULE_0__);

/**
 * Runs `operation` until it succeeds or the attempts run out, backing off exponentially with jitter.
 * Used for the few calls the SDKs do not retry on their own terms: cleanup after a failed upload must
 * outlast a server that is restarting.
 */
async function withRetry(operation, options) {
    if (!Number.isInteger(options.attempts) || options.attempts < 1) {
        throw new TypeError(`withRetry: attempts must be a whole number ≥ 1, got ${options.attempts}`);
    }
    let delay = options.baseDelayMs;
    for (let attempt = 1;; attempt++) {
        try {
            return await operation(attempt);
        }
        catch (err) {
            const retryable = options.retryable?.(err) ?? true;
            if (attempt >= options.attempts || !retryable || options.signal?.aborted)
                throw err;
            const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
            options.onRetry?.(err, attempt, jittered);
            await (0,node_timers_promises__WEBPACK_IMPORTED_MODULE_0__.setTimeout)(jittered, undefined, options.signal ? { signal: options.signal } : undefined);
            delay = Math.min(delay * 2, options.maxDelayMs ?? 30_000);
        }
    }
}


/***/ })

};
