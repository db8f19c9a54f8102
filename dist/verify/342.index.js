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
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6822);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(3091);
/* harmony import */ var _store_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(6336);
/* harmony import */ var _transfer_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(8130);








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
function statusOf(err) {
    const s = err?.statusCode;
    return typeof s === "number" ? s : undefined;
}
/** Azure Blob Storage through @azure/storage-blob: block blobs staged by `uploadStream`. */
class AzureStore {
    settings;
    logger;
    signal;
    kind = "azure";
    location;
    container;
    constructor(settings, logger, 
    /** The run's signal: every request ends when it fires. */
    signal) {
        this.settings = settings;
        this.logger = logger;
        this.signal = signal;
        this.location = `azure://${settings.container}/${settings.prefix}`;
        this.container = serviceClient(settings.auth, settings.transfer.attempts, settings.transfer.requestTimeoutMs).getContainerClient(settings.container);
    }
    uri(name) {
        return `${this.location}${name}`;
    }
    blob(name) {
        return this.container.getBlockBlobClient(`${this.settings.prefix}${name}`);
    }
    get endpoint() {
        return this.container.url.replace(/\?.*$/, "");
    }
    /**
     * One request (with the SDK's retries) under the network deadline and the run's signal (plus
     * `signal`, e.g. the preflight's bound). Cleanup after a failed upload is `detached` from the run's
     * signal: it must still discard the staged blocks.
     */
    timed(what, request, signal, detached = false) {
        return (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .withDeadline */ .NE)(`Azure ${what} at ${this.endpoint}`, this.settings.transfer.requestTimeoutMs, request, {
            signal: detached ? signal : (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .anySignal */ .JG)(this.signal, signal),
            setting: _transfer_js__WEBPACK_IMPORTED_MODULE_7__/* .NETWORK_TIMEOUT_SETTING */ .UQ,
        });
    }
    explain(action, name, err) {
        // A cancelled run is reported as such (the adapters exit for it), not as this destination's failure.
        if (this.signal?.aborted)
            return (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .abortReason */ .Js)(this.signal);
        const where = name === undefined ? this.location : this.uri(name);
        const status = statusOf(err);
        const code = err?.code;
        const net = (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .networkCode */ .e8)(err);
        let advice;
        if (err instanceof _net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .DeadlineError */ .j3) {
            advice = `${this.endpoint} did not answer within ${(0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .formatBound */ .Sp)(err.timeoutMs, err.setting)}: check AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT and the network`;
        }
        else if (net) {
            advice = `cannot reach ${this.container.url.replace(/\?.*$/, "")} (${net}): check AZURE_STORAGE_CONNECTION_STRING / BACKUP_AZURE_ENDPOINT and the network`;
        }
        else if (code === "BlobNotFound" ||
            (status === 404 && name !== undefined && code !== "ContainerNotFound")) {
            advice = _store_js__WEBPACK_IMPORTED_MODULE_6__/* .MISSING_OBJECT_ADVICE */ .iE;
        }
        else if (code === "ContainerNotFound" || (status === 404 && action === "check the container")) {
            advice = `container '${this.settings.container}' does not exist: create it (az storage container create --name ${this.settings.container}) or fix BACKUP_AZURE_CONTAINER`;
        }
        else if (status === 403 || code === "AuthenticationFailed" || code === "AuthorizationFailure") {
            advice =
                `access denied (${String(code ?? status)}): check AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_KEY or the SAS token, ` +
                    "or grant the identity 'Storage Blob Data Contributor' on the container";
        }
        else if (err?.name === "CredentialUnavailableError") {
            advice =
                "no Azure credentials were found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, " +
                    "or sign in (azure/login in a workflow) for DefaultAzureCredential";
        }
        else if (status === 409 || status === 412) {
            advice = "a blob with this name already exists; Lifeline never overwrites a backup";
        }
        else {
            advice = (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err);
        }
        return new _destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .DestinationError */ .lt(where, `Azure ${action} failed for ${where}: ${advice}`, { cause: err });
    }
    async preflight(signal) {
        try {
            // Listing works with a container-scoped SAS (permission l); Get Container Properties does not.
            await this.timed("list", (abortSignal) => this.container
                .listBlobsFlat({ prefix: this.settings.prefix, abortSignal })
                .byPage({ maxPageSize: 1 })
                .next(), signal);
        }
        catch (err) {
            throw this.explain("check the container", undefined, err);
        }
        await (0,_store_js__WEBPACK_IMPORTED_MODULE_6__/* .probeWrite */ ._w)(this, signal);
    }
    /**
     * Discards the blocks a failed upload staged: committing an empty block list drops every
     * uncommitted block (otherwise kept, and billed, for a week), then the empty blob is deleted.
     */
    async discardStagedBlocks(name) {
        const blob = this.blob(name);
        // uploadStream rejects at once while blocks already sent may still land: wait for them first.
        await new Promise((r) => setTimeout(r, BLOCKS_SETTLE_MS));
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_5__/* .withRetry */ .b)(async () => {
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
        }, { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 }).catch((err) => this.logger?.error(`Could not discard the staged blocks of ${this.uri(name)}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err)}; Azure drops uncommitted blocks after 7 days`));
    }
    async upload(name, options = {}) {
        const body = new node_stream__WEBPACK_IMPORTED_MODULE_0__.PassThrough({ highWaterMark: 1 << 20 });
        const controller = new AbortController();
        // Archive cannot take metadata later: such blobs land Cool and move to Archive after the checksum.
        const tier = this.settings.tier === "Archive" ? "Cool" : this.settings.tier;
        let aborted;
        let conflict = false;
        const done = this.blob(name)
            .uploadStream(body, this.settings.transfer.partSizeBytes, this.settings.transfer.concurrency, {
            abortSignal: controller.signal,
            tier,
            blobHTTPHeaders: { blobContentType: options.contentType ?? "application/octet-stream" },
            conditions: { ifNoneMatch: "*" }, // never overwrite an existing backup
        })
            .then(() => undefined, (err) => {
            // A blob of this name existed already: it is not ours, so cleanup must not touch it.
            conflict = statusOf(err) === 409 || statusOf(err) === 412;
            throw aborted ?? this.explain("upload", name, err);
        });
        done.catch(() => { });
        return {
            name,
            stream: body,
            done,
            abort: async (reason) => {
                aborted ??= reason;
                controller.abort();
                body.destroy(reason);
                await done.catch(() => { });
                if (!conflict)
                    await this.discardStagedBlocks(name);
            },
        };
    }
    async put(name, body, options = {}) {
        try {
            await this.timed("upload", (abortSignal) => this.blob(name).upload(body, Buffer.byteLength(body), {
                abortSignal,
                blobHTTPHeaders: { blobContentType: options.contentType ?? "text/plain; charset=utf-8" },
                conditions: { ifNoneMatch: "*" },
                // The account's default tier: sidecars and manifests must stay readable (never Archive).
            }), options.signal);
        }
        catch (err) {
            throw this.explain("put", name, err);
        }
    }
    async recordChecksum(name, sha256) {
        try {
            await this.timed("set metadata", (abortSignal) => this.blob(name).setMetadata({ sha256 }, { abortSignal }));
            if (this.settings.tier === "Archive") {
                await this.timed("set the tier", (abortSignal) => this.blob(name).setAccessTier("Archive", { abortSignal }));
            }
        }
        catch (err) {
            throw this.explain("set metadata", name, err);
        }
    }
    describe(item) {
        const sha = item.metadata?.sha256;
        return {
            name: item.name.slice(this.settings.prefix.length),
            sizeBytes: item.properties.contentLength ?? 0,
            lastModified: item.properties.lastModified,
            ...(item.properties.accessTier ? { storageClass: item.properties.accessTier } : {}),
            ...(sha ? { sha256: sha } : {}),
        };
    }
    async list() {
        const out = [];
        try {
            // Page by page, each under its own deadline: a long listing is not one request.
            let continuationToken;
            do {
                const token = continuationToken;
                const page = await this.timed("list", (abortSignal) => this.container
                    .listBlobsFlat({ prefix: this.settings.prefix, includeMetadata: true, abortSignal })
                    .byPage(token ? { continuationToken: token } : {})
                    .next());
                if (page.done)
                    break;
                for (const item of page.value.segment.blobItems) {
                    // Flat listing returns deeper names too; keep the prefix's own level, like the other stores.
                    if (item.name.slice(this.settings.prefix.length).includes("/"))
                        continue;
                    out.push(this.describe(item));
                }
                continuationToken = page.value.continuationToken || undefined;
            } while (continuationToken);
        }
        catch (err) {
            throw this.explain("list", undefined, err);
        }
        return out;
    }
    async stat(name) {
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
        }
        catch (err) {
            if (statusOf(err) === 404)
                return undefined;
            throw this.explain("stat", name, err);
        }
    }
    async get(name, signal) {
        try {
            // The deadline covers the request until the body starts; the body is ended by `signal` (or the
            // run's) and by the consumer destroying it.
            const body = (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .anySignal */ .JG)(this.signal, signal);
            const response = await this.timed("download", (abortSignal) => this.blob(name).download(0, undefined, { abortSignal: (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_3__/* .anySignal */ .JG)(abortSignal, body) }));
            const stream = response.readableStreamBody;
            if (!stream)
                throw new Error("the SDK returned no Node.js stream");
            return stream;
        }
        catch (err) {
            if (err.code === "BlobArchived") {
                throw new _destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .DestinationError */ .lt(this.uri(name), `${this.uri(name)} is in the Archive tier: rehydrate it (az storage blob set-tier --tier Cool --rehydrate-priority High) and retry when it is readable`, { cause: err });
            }
            throw this.explain("download", name, err);
        }
    }
    async getText(name) {
        try {
            return (await this.timed("download", (abortSignal) => this.blob(name).downloadToBuffer(0, undefined, { abortSignal }))).toString("utf8");
        }
        catch (err) {
            if (statusOf(err) === 404)
                return undefined;
            throw this.explain("download", name, err);
        }
    }
    async delete(name, signal) {
        try {
            await this.timed("delete", (abortSignal) => this.blob(name).deleteIfExists({ abortSignal }), signal);
        }
        catch (err) {
            throw this.explain("delete", name, err);
        }
    }
}


/***/ }),

/***/ 6822:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   e8: () => (/* binding */ networkCode),
/* harmony export */   lt: () => (/* binding */ DestinationError),
/* harmony export */   m_: () => (/* binding */ briefly)
/* harmony export */ });
/* harmony import */ var _config_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7827);

/** A failure at one destination: the message names the destination, the object and what to do. */
class DestinationError extends _config_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .UserError */ .yo {
    where;
    name = "DestinationError";
    constructor(
    /** The object's or bucket's URI, e.g. `s3://bucket/backups/postgres/x.sql.gz`. */
    where, message, options) {
        super(message, options);
        this.where = where;
    }
}
const NETWORK_CODES = new Set([
    "ECONNREFUSED",
    "ECONNRESET",
    "ENOTFOUND",
    "EAI_AGAIN",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "ENETUNREACH",
    "EPIPE",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
]);
/** The network-level error code buried in an SDK error (its own code or a cause's), if any. */
function networkCode(err) {
    for (let e = err, depth = 0; e && depth < 5; depth++) {
        if (typeof e.code === "string" && NETWORK_CODES.has(e.code))
            return e.code;
        const errors = e.errors;
        if (Array.isArray(errors)) {
            const inner = errors.map(networkCode).find((c) => c !== undefined);
            if (inner)
                return inner;
        }
        e = e.cause;
    }
    return undefined;
}
/** The message of an SDK error, one line, without the noise some SDKs put around it. */
function briefly(err) {
    const e = err;
    const message = typeof e?.message === "string" && e.message.trim() !== "" ? e.message : String(e?.name ?? err);
    return message.split("\n")[0]?.slice(0, 300) ?? message;
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
