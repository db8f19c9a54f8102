export const id = 842;
export const ids = [842];
export const modules = {

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

/***/ 1842:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  GcsStore: () => (/* binding */ GcsStore)
});

// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./node_modules/@google-cloud/storage/build/esm/src/index.js + 27 modules
var src = __webpack_require__(3923);
// EXTERNAL MODULE: ./src/net/deadline.ts
var deadline = __webpack_require__(7879);
// EXTERNAL MODULE: ./src/storage/cloud-store.ts
var cloud_store = __webpack_require__(9284);
// EXTERNAL MODULE: ./src/storage/destination-error.ts
var destination_error = __webpack_require__(6822);
// EXTERNAL MODULE: external "node:http"
var external_node_http_ = __webpack_require__(7067);
var external_node_http_default = /*#__PURE__*/__webpack_require__.n(external_node_http_);
// EXTERNAL MODULE: external "node:https"
var external_node_https_ = __webpack_require__(4708);
var external_node_https_default = /*#__PURE__*/__webpack_require__.n(external_node_https_);
// EXTERNAL MODULE: external "node:net"
var external_node_net_ = __webpack_require__(7030);
// EXTERNAL MODULE: ./node_modules/teeny-request/build/src/agents.js
var agents = __webpack_require__(4003);
;// CONCATENATED MODULE: ./src/storage/gcs-sockets.ts



// teeny-request is @google-cloud/storage's HTTP client; its agent pool is the only handle on the
// sockets of the SDK's JSON-API requests (bucket listing, small objects, deletes).

/** Sets an idle timeout on every socket an agent opens: silence for `idleMs` cuts it. */
function idleCutting(Base, idleMs) {
    return class extends Base {
        createConnection(options, callback) {
            const stream = super.createConnection(options, callback);
            if (stream instanceof external_node_net_.Socket) {
                stream.setTimeout(idleMs, () => stream.destroy(Object.assign(new Error(`no answer for ${idleMs} ms`), { code: "ETIMEDOUT" })));
            }
            return stream;
        }
    };
}
let installedIdleMs;
/**
 * The GCS SDK's JSON-API requests go through teeny-request, whose Node path (node-fetch 3) ignores
 * its `timeout` option and takes no AbortSignal: a server that accepts the connection and never
 * answers would hold the socket — and the process — forever, long after Lifeline stopped waiting.
 * Its keep-alive agents (the "forever" pool the SDK asks for) are replaced by ones that cut a socket
 * silent for `idleMs` (the network timeout); the SDK then fails or retries the request as for any
 * network error. Process-wide, like the pool itself; the smallest bound asked for wins.
 */
function boundGcsSockets(idleMs) {
    if (installedIdleMs !== undefined && installedIdleMs <= idleMs)
        return;
    installedIdleMs = idleMs;
    const options = { keepAlive: true, maxSockets: Number.POSITIVE_INFINITY };
    agents.pool.set("http:forever", new (idleCutting((external_node_http_default()).Agent, idleMs))(options));
    agents.pool.set("https:forever", new (idleCutting((external_node_https_default()).Agent, idleMs))(options));
}

// EXTERNAL MODULE: ./src/storage/retry.ts
var retry = __webpack_require__(3091);
// EXTERNAL MODULE: ./src/storage/store.ts
var store = __webpack_require__(6336);
;// CONCATENATED MODULE: ./src/storage/gcs-store.ts








const statusOf = (err) => (0,cloud_store/* numberAt */.tk)(err, "code");
/** Google Cloud Storage through @google-cloud/storage: resumable uploads in chunks of the part size. */
class GcsStore extends cloud_store/* CloudStore */.Dy {
    settings;
    kind = "gcs";
    storage;
    constructor(settings, logger, 
    /** The run's signal: every operation ends when it fires. */
    signal) {
        super("GCS", `gs://${settings.bucket}/${settings.prefix}`, "BACKUP_GCS_ENDPOINT / STORAGE_EMULATOR_HOST", settings.transfer.requestTimeoutMs, logger, signal);
        this.settings = settings;
        // The SDK reads STORAGE_EMULATOR_HOST itself and then uses one URL for both the JSON API and
        // resumable uploads, which fits no emulator; the endpoint derived from it in the config is used
        // instead, so the variable is hidden while the client is built.
        boundGcsSockets(settings.transfer.requestTimeoutMs);
        const emulatorHost = process.env.STORAGE_EMULATOR_HOST;
        if (settings.endpoint)
            delete process.env.STORAGE_EMULATOR_HOST;
        this.storage = new src/* Storage */.wc({
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
        if (emulatorHost !== undefined)
            process.env.STORAGE_EMULATOR_HOST = emulatorHost;
    }
    file(name) {
        return this.storage.bucket(this.settings.bucket).file(`${this.settings.prefix}${name}`);
    }
    get endpoint() {
        return this.settings.endpoint ?? "storage.googleapis.com";
    }
    isMissing(err) {
        return statusOf(err) === 404;
    }
    advice(action, _name, err) {
        const status = statusOf(err);
        const message = (0,destination_error/* briefly */.m_)(err);
        if (/Could not load the default credentials|credentials/i.test(message) && status === undefined) {
            return ("no Google credentials were found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or use " +
                "workload identity (google-github-actions/auth in a workflow)");
        }
        if (status === 404 && action === "check the bucket") {
            return `bucket '${this.settings.bucket}' does not exist: create it (gcloud storage buckets create gs://${this.settings.bucket}) or fix BACKUP_GCS_BUCKET`;
        }
        if (status === 401 || status === 403) {
            return `access denied (${status}): the account needs roles/storage.objectAdmin on the bucket (${message})`;
        }
        if (status === 412)
            return "an object with this name already exists; Lifeline never overwrites a backup";
        return message;
    }
    async preflight(signal) {
        // Listing needs storage.objects.list, which roles/storage.objectAdmin grants; reading the
        // bucket's metadata would need storage.buckets.get, which it does not.
        await this.call({ what: "list", action: "check the bucket", signal }, () => this.storage
            .bucket(this.settings.bucket)
            .getFiles({ prefix: this.settings.prefix, maxResults: 1, autoPaginate: false }));
        await (0,store/* probeWrite */._w)(this, signal);
    }
    /** Cancels a resumable session: its URI is its own credential, so a plain DELETE suffices. */
    async cancelSession(sessionUri) {
        await (0,retry/* withRetry */.b)(async () => {
            const response = await fetch(sessionUri, {
                method: "DELETE",
                // Not the run's signal: a cancelled upload's session must still be cancelled.
                signal: AbortSignal.timeout(this.settings.transfer.requestTimeoutMs),
            });
            // 499 is GCS's "cancelled"; 404/410: the session is already gone.
            if (response.status >= 500)
                throw new Error(`HTTP ${response.status}`);
        }, { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 }).catch((err) => this.logger?.warn(`Could not cancel the resumable upload session for ${this.location}: ${(0,destination_error/* briefly */.m_)(err)}; GCS expires it within a week and it holds no object`));
    }
    async upload(name, options = {}) {
        const sink = this.file(name).createWriteStream({
            resumable: true,
            chunkSize: this.settings.transfer.partSizeBytes,
            timeout: this.settings.transfer.requestTimeoutMs,
            metadata: {
                contentType: options.contentType ?? cloud_store/* DATA_CONTENT_TYPE */.AT,
                ...(options.readable ? {} : { storageClass: this.settings.storageClass }),
            },
            // Never overwrite: the upload only succeeds if no object of this name exists (generation 0).
            preconditionOpts: { ifGenerationMatch: 0 },
        });
        let sessionUri;
        sink.on("uri", (uri) => {
            sessionUri = uri;
        });
        const transfer = (body) => {
            const sent = new Promise((resolve, reject) => {
                sink.once("finish", () => resolve());
                sink.once("error", reject);
                body.once("error", reject);
            }).catch((err) => {
                sink.destroy();
                throw err;
            });
            body.pipe(sink);
            return sent;
        };
        return this.streamedUpload(name, transfer, async () => {
            if (sessionUri)
                await this.cancelSession(sessionUri);
        });
    }
    async put(name, body, options = {}) {
        await this.call({ what: "upload", action: "put", name, signal: options.signal }, () => this.file(name).save(body, {
            resumable: false,
            // The bucket's default class: sidecars and manifests are read often and are tiny.
            metadata: { contentType: options.contentType ?? cloud_store/* TEXT_CONTENT_TYPE */.tK },
            preconditionOpts: { ifGenerationMatch: 0 },
        }));
    }
    async recordChecksum(name, sha256) {
        await this.call({ what: "set metadata", action: "set metadata", name }, () => this.file(name).setMetadata({ metadata: { sha256 } }));
    }
    list() {
        return this.listPages(async (token) => {
            const [files, next] = await this.timed("list", () => this.storage.bucket(this.settings.bucket).getFiles({
                prefix: this.settings.prefix,
                delimiter: "/",
                autoPaginate: false,
                ...(token ? { pageToken: token } : {}),
            }));
            return {
                objects: files.map((f) => this.describe(f.name.slice(this.settings.prefix.length), f.metadata)),
                next: next?.pageToken,
            };
        });
    }
    describe(name, m) {
        const sha = m.metadata?.sha256;
        return (0,cloud_store/* storedObject */.j1)(name, Number(m.size ?? 0), new Date(m.updated ?? m.timeCreated ?? 0), m.storageClass, typeof sha === "string" ? sha : undefined);
    }
    async stat(name) {
        const got = await this.callUnlessMissing({ what: "stat", action: "stat", name }, () => this.file(name).getMetadata());
        return got && this.describe(name, got[0]);
    }
    async get(name, signal, range) {
        if (range && range.end <= range.start)
            return external_node_stream_.Readable.from([]);
        // Existence first, so that a missing object fails here with advice rather than mid-stream.
        if (!(await this.stat(name))) {
            throw new destination_error/* DestinationError */.lt(this.uri(name), `GCS download failed for ${this.uri(name)}: ${store/* MISSING_OBJECT_ADVICE */.iE}`);
        }
        // Our own SHA-256 checks the bytes end to end; the SDK's validation would hash them a second time.
        const stream = this.file(name).createReadStream({
            validation: false,
            ...(range ? { start: range.start, end: range.end - 1 } : {}),
        });
        const stop = (0,deadline/* anySignal */.JG)(this.signal, signal);
        if (stop) {
            const onAbort = () => stream.destroy((0,deadline/* abortReason */.Js)(stop));
            stop.addEventListener("abort", onAbort, { once: true });
            stream.once("close", () => stop.removeEventListener("abort", onAbort));
        }
        return stream;
    }
    getText(name, options = {}) {
        return this.rangedText(name, options, async (s, last) => {
            const stream = this.file(name).createReadStream({
                validation: false,
                ...(last !== undefined ? { start: 0, end: last } : {}),
            });
            const onAbort = () => stream.destroy((0,deadline/* abortReason */.Js)(s));
            s.addEventListener("abort", onAbort, { once: true });
            stream.once("close", () => s.removeEventListener("abort", onAbort));
            return stream;
        });
    }
    async delete(name, signal) {
        await this.call({ what: "delete", action: "delete", name, signal }, () => this.file(name).delete({ ignoreNotFound: true }));
    }
    /** Sets the bucket's lifecycle rules (replacing the whole of them). */
    async applyLifecycle(lifecycle) {
        await this.call({ what: "set the bucket lifecycle", action: "set the bucket lifecycle" }, () => this.storage.bucket(this.settings.bucket).setMetadata({ lifecycle }));
        // Read back: a server that accepts the call but drops the rules (some emulators) must not pass.
        const kept = await this.lifecycleRules();
        if (kept.length !== lifecycle.rule.length) {
            throw new destination_error/* DestinationError */.lt(this.location, `GCS set the bucket lifecycle for ${this.location}: the call succeeded but the bucket reports ${kept.length} of ${lifecycle.rule.length} rules; set them with gcloud (command above)`);
        }
    }
    /** The bucket's lifecycle rules as GCS reports them. */
    async lifecycleRules() {
        const [m] = await this.timed("get the bucket metadata", () => this.storage.bucket(this.settings.bucket).getMetadata());
        return m.lifecycle?.rule ?? [];
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
