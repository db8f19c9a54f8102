export const id = 947;
export const ids = [947];
export const modules = {

/***/ 39284:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   AT: () => (/* binding */ DATA_CONTENT_TYPE),
/* harmony export */   Dy: () => (/* binding */ CloudStore),
/* harmony export */   j1: () => (/* binding */ storedObject),
/* harmony export */   tK: () => (/* binding */ TEXT_CONTENT_TYPE),
/* harmony export */   tk: () => (/* binding */ numberAt)
/* harmony export */ });
/* unused harmony export readAtMost */
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(57075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _net_deadline_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(47879);
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(46822);
/* harmony import */ var _transfer_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(48130);




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

/***/ 43091:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   b: () => (/* binding */ withRetry)
/* harmony export */ });
/* harmony import */ var node_timers_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(58500);
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


/***/ }),

/***/ 98947:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   S3Store: () => (/* binding */ S3Store)
/* harmony export */ });
/* unused harmony export partSizeFor */
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(57075);
/* harmony import */ var node_stream__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_stream__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__ = __webpack_require__(53711);
/* harmony import */ var _aws_sdk_lib_storage__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(22358);
/* harmony import */ var _net_deadline_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(47879);
/* harmony import */ var _cloud_store_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(39284);
/* harmony import */ var _destination_error_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(46822);
/* harmony import */ var _retry_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(43091);
/* harmony import */ var _store_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(76336);
/* harmony import */ var _transfer_js__WEBPACK_IMPORTED_MODULE_7__ = __webpack_require__(48130);









/** Requests whose bodies are backup data: signed without hashing the payload (see the constructor). */
const UNSIGNED_COMMANDS = new Set(["UploadPartCommand", "PutObjectCommand"]);
/** S3's limit on parts per upload. */
const MAX_PARTS = 10_000;
/**
 * The part size for a stream of unknown length: the configured one, raised (in whole MiB) so that
 * twice the expected size still fits in S3's 10,000 parts — a backup may grow, a stream cannot be re-cut.
 */
function partSizeFor(configured, expectedBytes) {
    if (!expectedBytes)
        return configured;
    const needed = Math.ceil((expectedBytes * 2) / MAX_PARTS / _transfer_js__WEBPACK_IMPORTED_MODULE_7__/* .MIB */ .D6) * _transfer_js__WEBPACK_IMPORTED_MODULE_7__/* .MIB */ .D6;
    return Math.max(configured, needed);
}
/** Multipart uploads older than this under our prefix belong to runs that died: preflight aborts them. */
const STALE_MULTIPART_MS = 24 * 3600_000;
function statusOf(err) {
    return err?.$metadata?.httpStatusCode;
}
/** S3 (and S3-compatible stores) through the AWS SDK v3: lib-storage `Upload` for streamed multipart. */
class S3Store extends _cloud_store_js__WEBPACK_IMPORTED_MODULE_3__/* .CloudStore */ .Dy {
    settings;
    kind = "s3";
    client;
    constructor(settings, logger, 
    /** The run's signal: every request ends when it fires. */
    signal) {
        super("S3", `s3://${settings.bucket}/${settings.prefix}`, "BACKUP_S3_ENDPOINT / AWS_ENDPOINT_URL_S3", settings.transfer.requestTimeoutMs, logger, signal);
        this.settings = settings;
        this.client = new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.S3Client({
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
        this.client.middlewareStack.add((next, context) => async (args) => {
            const request = args.request;
            if (UNSIGNED_COMMANDS.has(context.commandName ?? "") && request.headers) {
                request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
            }
            return next(args);
        }, { step: "build", name: "lifelineUnsignedPayload" });
    }
    key(name) {
        return `${this.settings.prefix}${name}`;
    }
    get endpoint() {
        return this.settings.endpoint ?? "AWS S3";
    }
    isMissing(err) {
        return statusOf(err) === 404 || err.name === "NoSuchKey";
    }
    advice(action, name, err) {
        const status = statusOf(err);
        const code = err?.name ?? "";
        const endpoint = this.endpoint;
        if (code === "CredentialsProviderError" || (/credential/i.test((0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err)) && status === undefined)) {
            return ("no AWS credentials were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a role " +
                "(aws-actions/configure-aws-credentials in a workflow)");
        }
        if (code === "NoSuchBucket" || (status === 404 && action === "check the bucket")) {
            return `bucket '${this.settings.bucket}' does not exist at ${endpoint}: create it or fix BACKUP_S3_BUCKET`;
        }
        if (status === 403 ||
            ["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"].includes(code)) {
            return (`access denied (${code || status}): check the credentials and that they may s3:ListBucket, s3:PutObject, ` +
                "s3:GetObject, s3:DeleteObject, s3:PutObjectTagging and s3:AbortMultipartUpload on the bucket");
        }
        if (code === "NoSuchKey" || (status === 404 && name !== undefined))
            return _store_js__WEBPACK_IMPORTED_MODULE_6__/* .MISSING_OBJECT_ADVICE */ .iE;
        if (status === 412 || code === "PreconditionFailed") {
            return "an object with this name already exists; Lifeline never overwrites a backup";
        }
        if (/Exceeded \d+ parts/.test((0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err))) {
            return `the backup outgrew S3's ${MAX_PARTS} parts per upload: raise BACKUP_UPLOAD_PART_SIZE_MB`;
        }
        if (status === 301 || code === "PermanentRedirect" || code === "AuthorizationHeaderMalformed") {
            return `the bucket is in another region: set BACKUP_S3_REGION (AWS_REGION) to the bucket's region`;
        }
        return (0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err);
    }
    async preflight(signal) {
        await this.call({ what: "HeadBucket", action: "check the bucket", signal }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.HeadBucketCommand({ Bucket: this.settings.bucket }), { abortSignal: s }));
        await (0,_store_js__WEBPACK_IMPORTED_MODULE_6__/* .probeWrite */ ._w)(this, signal);
        await this.abortStaleUploads(signal);
    }
    /** Aborts multipart uploads under our prefix that a dead run left behind (they are billed). */
    async abortStaleUploads(signal) {
        // With no prefix the sweep would reach every application's uploads in the bucket: leave them.
        if (this.settings.prefix === "")
            return;
        const cutoff = Date.now() - STALE_MULTIPART_MS;
        const uploads = await this.timed("ListMultipartUploads", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: this.settings.prefix }), { abortSignal: s }), signal).catch((err) => {
            if (this.signal?.aborted || signal?.aborted)
                throw err;
            this.logger?.warn(`Could not list incomplete multipart uploads in ${this.location}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err)}`);
            return { Uploads: [] };
        });
        for (const u of uploads.Uploads ?? []) {
            if (!u.Key || !u.UploadId || (u.Initiated && u.Initiated.getTime() > cutoff))
                continue;
            if (u.Key.slice(this.settings.prefix.length).includes("/"))
                continue; // not at our level
            const { Key, UploadId } = u;
            await this.timed("AbortMultipartUpload", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key, UploadId }), {
                abortSignal: s,
            }), signal).then(() => this.logger?.warn(`Aborted an incomplete multipart upload left by an earlier run: s3://${this.settings.bucket}/${u.Key}`), (err) => this.logger?.warn(`Could not abort the stale multipart upload of ${u.Key}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err)}`));
        }
    }
    /**
     * Removes every incomplete multipart upload of one key. lib-storage aborts its own upload on failure,
     * but not when the server was unreachable at that moment: this outlasts a restart.
     */
    async abortIncomplete(key) {
        await (0,_retry_js__WEBPACK_IMPORTED_MODULE_5__/* .withRetry */ .b)(async () => {
            const listed = await this.timed("ListMultipartUploads", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.ListMultipartUploadsCommand({ Bucket: this.settings.bucket, Prefix: key }), {
                abortSignal: s,
            }), undefined, true);
            for (const u of listed.Uploads ?? []) {
                if (u.Key !== key || !u.UploadId)
                    continue;
                const UploadId = u.UploadId;
                await this.timed("AbortMultipartUpload", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.AbortMultipartUploadCommand({ Bucket: this.settings.bucket, Key: key, UploadId }), { abortSignal: s }), undefined, true).catch((err) => {
                    // Already gone (lib-storage aborted it itself): that is the goal.
                    if (err.name !== "NoSuchUpload" && statusOf(err) !== 404)
                        throw err;
                });
            }
        }, { attempts: this.settings.transfer.cleanupAttempts, baseDelayMs: 1000 }).catch((err) => {
            this.logger?.error(`Could not abort the incomplete multipart upload of s3://${this.settings.bucket}/${key}: ${(0,_destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .briefly */ .m_)(err)}; ` +
                "the next run's check aborts it, and the lifecycle rule AbortIncompleteMultipartUpload removes it too");
        });
    }
    async upload(name, options = {}) {
        const key = this.key(name);
        const transfer = (body) => new _aws_sdk_lib_storage__WEBPACK_IMPORTED_MODULE_1__/* .Upload */ ._({
            client: this.client,
            params: {
                Bucket: this.settings.bucket,
                Key: key,
                Body: body,
                ...(options.readable ? {} : { StorageClass: this.settings.storageClass }),
                ContentType: options.contentType ?? _cloud_store_js__WEBPACK_IMPORTED_MODULE_3__/* .DATA_CONTENT_TYPE */ .AT,
                // Never overwrite a backup: CompleteMultipartUpload / PutObject fail if the key exists.
                IfNoneMatch: "*",
            },
            partSize: partSizeFor(this.settings.transfer.partSizeBytes, options.expectedBytes),
            queueSize: this.settings.transfer.concurrency,
        }).done();
        return this.streamedUpload(name, transfer, () => this.abortIncomplete(key));
    }
    async put(name, body, options = {}) {
        await this.call({ what: "PutObject", action: "put", name, signal: options.signal }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.PutObjectCommand({
            Bucket: this.settings.bucket,
            Key: this.key(name),
            Body: body,
            ContentType: options.contentType ?? _cloud_store_js__WEBPACK_IMPORTED_MODULE_3__/* .TEXT_CONTENT_TYPE */ .tK,
            // Sidecars and manifests stay in the default class: they must be readable at once, even
            // when the data sits in GLACIER (listing, retention and verify read them).
            IfNoneMatch: "*",
        }), { abortSignal: s }));
    }
    /** S3 user metadata cannot change after upload without copying the object: the checksum is a tag. */
    async recordChecksum(name, sha256) {
        await this.call({ what: "PutObjectTagging", action: "tag", name }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.PutObjectTaggingCommand({
            Bucket: this.settings.bucket,
            Key: this.key(name),
            Tagging: { TagSet: [{ Key: "sha256", Value: sha256 }] },
        }), { abortSignal: s }));
    }
    list() {
        return this.listPages(async (token) => {
            const page = await this.timed("ListObjectsV2", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.ListObjectsV2Command({
                Bucket: this.settings.bucket,
                Prefix: this.settings.prefix,
                Delimiter: "/",
                ...(token ? { ContinuationToken: token } : {}),
            }), { abortSignal: s }));
            const objects = (page.Contents ?? []).flatMap((o) => o.Key
                ? [
                    (0,_cloud_store_js__WEBPACK_IMPORTED_MODULE_3__/* .storedObject */ .j1)(o.Key.slice(this.settings.prefix.length), o.Size ?? 0, o.LastModified ?? new Date(0), o.StorageClass, undefined),
                ]
                : []);
            return { objects, next: page.IsTruncated ? page.NextContinuationToken : undefined };
        });
    }
    async stat(name) {
        const head = await this.callUnlessMissing({ what: "HeadObject", action: "stat", name }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.HeadObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }), {
            abortSignal: s,
        }));
        if (!head)
            return undefined;
        return {
            name,
            sizeBytes: head.ContentLength ?? 0,
            lastModified: head.LastModified ?? new Date(0),
            storageClass: head.StorageClass ?? "STANDARD",
        };
    }
    async get(name, signal, range) {
        if (range && range.end <= range.start)
            return node_stream__WEBPACK_IMPORTED_MODULE_0__.Readable.from([]);
        try {
            // The deadline covers the request until the body starts; the body is ended by `signal`, the
            // consumer destroying it, or socketTimeout when it stops flowing.
            const body = (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_2__/* .anySignal */ .JG)(this.signal, signal);
            const got = await this.timed("GetObject", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.GetObjectCommand({
                Bucket: this.settings.bucket,
                Key: this.key(name),
                ...(range ? { Range: `bytes=${range.start}-${range.end - 1}` } : {}),
            }), { abortSignal: (0,_net_deadline_js__WEBPACK_IMPORTED_MODULE_2__/* .anySignal */ .JG)(s, body) }));
            if (!(got.Body instanceof node_stream__WEBPACK_IMPORTED_MODULE_0__.Readable))
                throw new Error("the SDK returned no Node.js stream");
            return got.Body;
        }
        catch (err) {
            if (err.name === "InvalidObjectState") {
                throw new _destination_error_js__WEBPACK_IMPORTED_MODULE_4__/* .DestinationError */ .lt(this.uri(name), `${this.uri(name)} is archived (GLACIER / DEEP_ARCHIVE): restore it first ` +
                    `(aws s3api restore-object --bucket ${this.settings.bucket} --key ${this.key(name)} ...) and retry when it is readable`, { cause: err });
            }
            throw this.explain("download", name, err);
        }
    }
    getText(name, options = {}) {
        return this.rangedText(name, options, async (s, last) => {
            const got = await this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.GetObjectCommand({
                Bucket: this.settings.bucket,
                Key: this.key(name),
                ...(last !== undefined ? { Range: `bytes=0-${last}` } : {}),
            }), { abortSignal: s });
            return got.Body instanceof node_stream__WEBPACK_IMPORTED_MODULE_0__.Readable ? got.Body : node_stream__WEBPACK_IMPORTED_MODULE_0__.Readable.from([]);
        });
    }
    async delete(name, signal) {
        await this.callUnlessMissing({ what: "DeleteObject", action: "delete", name, signal }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.DeleteObjectCommand({ Bucket: this.settings.bucket, Key: this.key(name) }), {
            abortSignal: s,
        }));
    }
    /** Sets the bucket's lifecycle configuration (replacing the whole of it, as S3 does). */
    async applyLifecycle(configuration) {
        await this.call({ what: "PutBucketLifecycleConfiguration", action: "put-bucket-lifecycle-configuration" }, (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.PutBucketLifecycleConfigurationCommand({
            Bucket: this.settings.bucket,
            LifecycleConfiguration: configuration,
        }), { abortSignal: s }));
    }
    /** The bucket's lifecycle rules as S3 reports them (empty when none). */
    async lifecycleRules() {
        try {
            return ((await this.timed("GetBucketLifecycleConfiguration", (s) => this.client.send(new _aws_sdk_client_s3__WEBPACK_IMPORTED_MODULE_8__.GetBucketLifecycleConfigurationCommand({ Bucket: this.settings.bucket }), {
                abortSignal: s,
            }))).Rules ?? []);
        }
        catch (err) {
            if (err.name === "NoSuchLifecycleConfiguration")
                return [];
            throw this.explain("get-bucket-lifecycle-configuration", undefined, err);
        }
    }
}


/***/ }),

/***/ 76336:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   _w: () => (/* binding */ probeWrite),
/* harmony export */   iE: () => (/* binding */ MISSING_OBJECT_ADVICE)
/* harmony export */ });
/* unused harmony export parseBackupUri */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(77598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);

/** Parses `s3://bucket/key`, `gs://bucket/key`, `azure://container/key` or a local path. */
function parseBackupUri(uri) {
    const m = /^(s3|gs|azure):\/\/([^/]+)\/(.+)$/.exec(uri);
    if (!m)
        return { kind: "local", path: uri };
    const kind = m[1] === "gs" ? "gcs" : m[1];
    return { kind, bucket: m[2], key: m[3] };
}
/** Proves we may write under the store's prefix: a tiny probe object is written, then deleted. */
async function probeWrite(store, signal) {
    const probe = `.lifeline-write-probe-${(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(6).toString("hex")}`;
    await store.put(probe, "lifeline write probe\n", signal ? { signal } : {});
    await store.delete(probe, signal);
}
/** Advice for a name that is not in a store: what exists can be listed. */
const MISSING_OBJECT_ADVICE = "it does not exist: list what there is with restore's list-backups (the input 'list-backups' of the restore action, or 'lifeline restore --list-backups')";


/***/ })

};
