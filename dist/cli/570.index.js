export const id = 570;
export const ids = [570];
export const modules = {

/***/ 6570:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   GcsStore: () => (/* binding */ GcsStore)
/* harmony export */ });
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _google_cloud_storage__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3923);
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6822);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(3091);
/* harmony import */ var _store_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6336);





function statusOf(err) {
    const code = err?.code;
    return typeof code === "number" ? code : undefined;
}
/** Google Cloud Storage through @google-cloud/storage: resumable uploads in chunks of the part size. */
class GcsStore {
    settings;
    logger;
    kind = "gcs";
    location;
    storage;
    constructor(settings, logger) {
        this.settings = settings;
        this.logger = logger;
        this.location = `gs://${settings.bucket}/${settings.prefix}`;
        // The SDK reads STORAGE_EMULATOR_HOST itself and then uses one URL for both the JSON API and
        // resumable uploads, which fits no emulator; the endpoint derived from it in the config is used
        // instead, so the variable is hidden while the client is built.
        const emulatorHost = process.env.STORAGE_EMULATOR_HOST;
        if (settings.endpoint)
            delete process.env.STORAGE_EMULATOR_HOST;
        this.storage = new _google_cloud_storage__WEBPACK_IMPORTED_MODULE_1__/* .Storage */ .wc({
            ...(settings.endpoint ? { apiEndpoint: settings.endpoint } : {}),
            ...(settings.projectId ? { projectId: settings.projectId } : {}),
            // The SDK retries 408/429/5xx and network errors with exponential backoff; idempotent calls only
            // by default, which covers resumable chunks (they carry their offset).
            retryOptions: { autoRetry: true, maxRetries: settings.transfer.attempts - 1 },
        });
        if (emulatorHost !== undefined)
            process.env.STORAGE_EMULATOR_HOST = emulatorHost;
    }
    uri(name) {
        return `${this.location}${name}`;
    }
    file(name) {
        return this.storage.bucket(this.settings.bucket).file(`${this.settings.prefix}${name}`);
    }
    explain(action, name, err) {
        const where = name === undefined ? this.location : this.uri(name);
        const status = statusOf(err);
        const net = (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .networkCode */ .e8)(err);
        const message = (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .briefly */ .m_)(err);
        let advice;
        if (net) {
            advice = `cannot reach ${this.settings.endpoint ?? "storage.googleapis.com"} (${net}): check BACKUP_GCS_ENDPOINT / STORAGE_EMULATOR_HOST and the network`;
        }
        else if (/Could not load the default credentials|credentials/i.test(message) && status === undefined) {
            advice =
                "no Google credentials were found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file, or use " +
                    "workload identity (google-github-actions/auth in a workflow)";
        }
        else if (status === 404 && action === "check the bucket") {
            advice = `bucket '${this.settings.bucket}' does not exist: create it (gcloud storage buckets create gs://${this.settings.bucket}) or fix BACKUP_GCS_BUCKET`;
        }
        else if (status === 401 || status === 403) {
            advice = `access denied (${status}): the account needs roles/storage.objectAdmin on the bucket (${message})`;
        }
        else if (status === 412) {
            advice = "an object with this name already exists; Lifeline never overwrites a backup";
        }
        else {
            advice = message;
        }
        return new _destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .DestinationError */ .lt(where, `GCS ${action} failed for ${where}: ${advice}`, { cause: err });
    }
    async preflight() {
        try {
            // Listing needs storage.objects.list, which roles/storage.objectAdmin grants; reading the
            // bucket's metadata would need storage.buckets.get, which it does not.
            await this.storage
                .bucket(this.settings.bucket)
                .getFiles({ prefix: this.settings.prefix, maxResults: 1, autoPaginate: false });
        }
        catch (err) {
            throw this.explain("check the bucket", undefined, err);
        }
        await (0,_store_js__WEBPACK_IMPORTED_MODULE_4__/* .probeWrite */ ._w)(this);
    }
    /** Cancels a resumable session: its URI is its own credential, so a plain DELETE suffices. */
    async cancelSession(sessionUri) {
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_3__/* .withRetry */ .b)(async () => {
            const response = await fetch(sessionUri, { method: "DELETE" });
            // 499 is GCS's "cancelled"; 404/410: the session is already gone.
            if (response.status >= 500)
                throw new Error(`HTTP ${response.status}`);
        }, { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 }).catch((err) => this.logger?.warn(`Could not cancel the resumable upload session for ${this.location}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .briefly */ .m_)(err)}; GCS expires it within a week and it holds no object`));
    }
    async upload(name, options = {}) {
        const file = this.file(name);
        const metadata = {
            contentType: options.contentType ?? "application/octet-stream",
            storageClass: this.settings.storageClass,
        };
        const body = new node_stream__WEBPACK_IMPORTED_MODULE_0__.PassThrough({ highWaterMark: 1 << 20 });
        const sink = file.createWriteStream({
            resumable: true,
            chunkSize: this.settings.transfer.partSizeBytes,
            timeout: this.settings.transfer.requestTimeoutMs,
            metadata,
            // Never overwrite: the upload only succeeds if no object of this name exists (generation 0).
            preconditionOpts: { ifGenerationMatch: 0 },
        });
        let sessionUri;
        sink.on("uri", (uri) => {
            sessionUri = uri;
        });
        let aborted;
        const done = new Promise((resolve, reject) => {
            sink.once("finish", () => resolve());
            sink.once("error", reject);
            body.once("error", reject);
        }).catch((err) => {
            sink.destroy();
            throw aborted ?? this.explain("upload", name, err);
        });
        done.catch(() => { });
        body.pipe(sink);
        return {
            name,
            stream: body,
            done,
            abort: async (reason) => {
                aborted ??= reason;
                body.destroy(reason);
                await done.catch(() => { });
                if (sessionUri)
                    await this.cancelSession(sessionUri);
            },
        };
    }
    async put(name, body, options = {}) {
        try {
            await this.file(name).save(body, {
                resumable: false,
                // The bucket's default class: sidecars and manifests are read often and are tiny.
                metadata: { contentType: options.contentType ?? "text/plain; charset=utf-8" },
                preconditionOpts: { ifGenerationMatch: 0 },
            });
        }
        catch (err) {
            throw this.explain("put", name, err);
        }
    }
    async recordChecksum(name, sha256) {
        try {
            await this.file(name).setMetadata({ metadata: { sha256 } });
        }
        catch (err) {
            throw this.explain("set metadata", name, err);
        }
    }
    async list() {
        try {
            const [files] = await this.storage
                .bucket(this.settings.bucket)
                .getFiles({ prefix: this.settings.prefix, delimiter: "/", autoPaginate: true });
            return files.map((f) => this.describe(f.name.slice(this.settings.prefix.length), f.metadata));
        }
        catch (err) {
            throw this.explain("list", undefined, err);
        }
    }
    describe(name, m) {
        const sha = m.metadata?.sha256;
        return {
            name,
            sizeBytes: Number(m.size ?? 0),
            lastModified: new Date(m.updated ?? m.timeCreated ?? 0),
            ...(m.storageClass ? { storageClass: m.storageClass } : {}),
            ...(typeof sha === "string" ? { sha256: sha } : {}),
        };
    }
    async stat(name) {
        try {
            const [m] = await this.file(name).getMetadata();
            return this.describe(name, m);
        }
        catch (err) {
            if (statusOf(err) === 404)
                return undefined;
            throw this.explain("stat", name, err);
        }
    }
    async get(name) {
        // Existence first, so that a missing object fails here with advice rather than mid-stream.
        if (!(await this.stat(name))) {
            throw new _destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .DestinationError */ .lt(this.uri(name), `GCS download failed for ${this.uri(name)}: ${_store_js__WEBPACK_IMPORTED_MODULE_4__/* .MISSING_OBJECT_ADVICE */ .iE}`);
        }
        // Our own SHA-256 checks the bytes end to end; the SDK's validation would hash them a second time.
        return this.file(name).createReadStream({ validation: false });
    }
    async getText(name) {
        try {
            const [data] = await this.file(name).download();
            return data.toString("utf8");
        }
        catch (err) {
            if (statusOf(err) === 404)
                return undefined;
            throw this.explain("download", name, err);
        }
    }
    async delete(name) {
        try {
            await this.file(name).delete({ ignoreNotFound: true });
        }
        catch (err) {
            throw this.explain("delete", name, err);
        }
    }
    /** Sets the bucket's lifecycle rules (replacing the whole of them). */
    async applyLifecycle(lifecycle) {
        try {
            await this.storage.bucket(this.settings.bucket).setMetadata({ lifecycle });
        }
        catch (err) {
            throw this.explain("set the bucket lifecycle", undefined, err);
        }
        // Read back: a server that accepts the call but drops the rules (some emulators) must not pass.
        const kept = await this.lifecycleRules();
        if (kept.length !== lifecycle.rule.length) {
            throw new _destination_error_js__WEBPACK_IMPORTED_MODULE_2__/* .DestinationError */ .lt(this.location, `GCS set the bucket lifecycle for ${this.location}: the call succeeded but the bucket reports ${kept.length} of ${lifecycle.rule.length} rules; set them with gcloud (command above)`);
        }
    }
    /** The bucket's lifecycle rules as GCS reports them. */
    async lifecycleRules() {
        const [m] = await this.storage.bucket(this.settings.bucket).getMetadata();
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
