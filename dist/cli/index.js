#!/usr/bin/env node
import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
import * as __WEBPACK_EXTERNAL_MODULE_open__ from "open";
/******/ var __webpack_modules__ = ({

/***/ 785:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
// This is an empty module that is served up when outside of a workerd environment
// See the `exports` field in package.json
exports["default"] = {};
//# sourceMappingURL=empty.js.map

/***/ }),

/***/ 6122:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



//Parse method copied from https://github.com/brianc/node-postgres
//Copyright (c) 2010-2014 Brian Carlson (brian.m.carlson@gmail.com)
//MIT License

//parses a connection string
function parse(str, options = {}) {
  //unix socket
  if (str.charAt(0) === '/') {
    const config = str.split(' ')
    return { host: config[0], database: config[1] }
  }

  // Check for empty host in URL

  const config = Object.create(null)
  let result
  let dummyHost = false
  if (/ |%[^a-f0-9]|%[a-f0-9][^a-f0-9]/i.test(str)) {
    // Ensure spaces are encoded as %20
    str = encodeURI(str).replace(/%25(\d\d)/g, '%$1')
  }

  try {
    try {
      result = new URL(str, 'postgres://base')
    } catch (e) {
      // The URL is invalid so try again with a dummy host
      result = new URL(str.replace('@/', '@___DUMMY___/'), 'postgres://base')
      dummyHost = true
    }
  } catch (err) {
    // Remove the input from the error message to avoid leaking sensitive information
    err.input && (err.input = '*****REDACTED*****')
    throw err
  }

  // We'd like to use Object.fromEntries() here but Node.js 10 does not support it
  for (const entry of result.searchParams.entries()) {
    config[entry[0]] = entry[1]
  }

  config.user = config.user || decodeURIComponent(result.username)
  config.password = config.password || decodeURIComponent(result.password)

  if (result.protocol == 'socket:') {
    config.host = decodeURI(result.pathname)
    config.database = result.searchParams.get('db')
    config.client_encoding = result.searchParams.get('encoding')
    return config
  }
  const hostname = (dummyHost ? '' : result.hostname).replace(/^\[(.+)\]$/, '$1')
  if (!config.host) {
    // Only set the host if there is no equivalent query param.
    config.host = decodeURIComponent(hostname)
  } else if (hostname && /^%2f/i.test(hostname)) {
    // Only prepend the hostname to the pathname if it is not a URL encoded Unix socket host.
    result.pathname = hostname + result.pathname
  }
  if (!config.port) {
    // Only set the port if there is no equivalent query param.
    config.port = result.port
  }

  const pathname = result.pathname.slice(1) || null
  config.database = pathname ? decodeURI(pathname) : null

  if (config.ssl === 'true' || config.ssl === '1') {
    config.ssl = true
  }

  if (config.ssl === '0') {
    config.ssl = false
  }

  if (config.sslcert || config.sslkey || config.sslrootcert || config.sslmode) {
    config.ssl = {}
  }

  // sslnegotiation=direct implies SSL is in use (libpq requires sslmode>=require),
  // so enable SSL if the connection string did not otherwise configure it.
  if (config.sslnegotiation === 'direct' && config.ssl === undefined) {
    config.ssl = true
  }

  // Only try to load fs if we expect to read from the disk
  const fs = config.sslcert || config.sslkey || config.sslrootcert ? __nccwpck_require__(9896) : null

  if (config.sslcert) {
    config.ssl.cert = fs.readFileSync(config.sslcert).toString()
  }

  if (config.sslkey) {
    config.ssl.key = fs.readFileSync(config.sslkey).toString()
  }

  if (config.sslrootcert) {
    config.ssl.ca = fs.readFileSync(config.sslrootcert).toString()
  }

  if (options.useLibpqCompat && config.uselibpqcompat) {
    throw new Error('Both useLibpqCompat and uselibpqcompat are set. Please use only one of them.')
  }

  if (config.uselibpqcompat === 'true' || options.useLibpqCompat) {
    switch (config.sslmode) {
      case 'disable': {
        config.ssl = false
        break
      }
      case 'prefer': {
        config.ssl.rejectUnauthorized = false
        break
      }
      case 'require': {
        if (config.sslrootcert) {
          // If a root CA is specified, behavior of `sslmode=require` will be the same as that of `verify-ca`
          config.ssl.checkServerIdentity = function () {}
        } else {
          config.ssl.rejectUnauthorized = false
        }
        break
      }
      case 'verify-ca': {
        if (!config.ssl.ca) {
          throw new Error(
            'SECURITY WARNING: Using sslmode=verify-ca requires specifying a CA with sslrootcert. If a public CA is used, verify-ca allows connections to a server that somebody else may have registered with the CA, making you vulnerable to Man-in-the-Middle attacks. Either specify a custom CA certificate with sslrootcert parameter or use sslmode=verify-full for proper security.'
          )
        }
        config.ssl.checkServerIdentity = function () {}
        break
      }
      case 'verify-full': {
        break
      }
    }
  } else {
    switch (config.sslmode) {
      case 'disable': {
        config.ssl = false
        break
      }
      case 'prefer':
      case 'require':
      case 'verify-ca':
      case 'verify-full': {
        if (config.sslmode !== 'verify-full') {
          deprecatedSslModeWarning(config.sslmode)
        }
        break
      }
      case 'no-verify': {
        config.ssl.rejectUnauthorized = false
        break
      }
    }
  }

  return config
}

// convert pg-connection-string ssl config to a ClientConfig.ConnectionOptions
function toConnectionOptions(sslConfig) {
  const connectionOptions = Object.entries(sslConfig).reduce((c, [key, value]) => {
    // we explicitly check for undefined and null instead of `if (value)` because some
    // options accept falsy values. Example: `ssl.rejectUnauthorized = false`
    if (value !== undefined && value !== null) {
      c[key] = value
    }

    return c
  }, Object.create(null))

  return connectionOptions
}

// convert pg-connection-string config to a ClientConfig
function toClientConfig(config) {
  const poolConfig = Object.entries(config).reduce((c, [key, value]) => {
    if (key === 'ssl') {
      const sslConfig = value

      if (typeof sslConfig === 'boolean') {
        c[key] = sslConfig
      }

      if (typeof sslConfig === 'object') {
        c[key] = toConnectionOptions(sslConfig)
      }
    } else if (value !== undefined && value !== null) {
      if (key === 'port') {
        // when port is not specified, it is converted into an empty string
        // we want to avoid NaN or empty string as a values in ClientConfig
        if (value !== '') {
          const v = parseInt(value, 10)
          if (isNaN(v)) {
            throw new Error(`Invalid ${key}: ${value}`)
          }

          c[key] = v
        }
      } else {
        c[key] = value
      }
    }

    return c
  }, Object.create(null))

  return poolConfig
}

// parses a connection string into ClientConfig
function parseIntoClientConfig(str) {
  return toClientConfig(parse(str))
}

function deprecatedSslModeWarning(sslmode) {
  if (!deprecatedSslModeWarning.warned && typeof process !== 'undefined' && process.emitWarning) {
    deprecatedSslModeWarning.warned = true
    process.emitWarning(`SECURITY WARNING: The SSL modes 'prefer', 'require', and 'verify-ca' are treated as aliases for 'verify-full'.
In the next major version (pg-connection-string v3.0.0 and pg v9.0.0), these modes will adopt standard libpq semantics, which have weaker security guarantees.

To prepare for this change:
- If you want the current behavior, explicitly use 'sslmode=verify-full'
- If you want libpq compatibility now, use 'uselibpqcompat=true&sslmode=${sslmode}'

See https://www.postgresql.org/docs/current/libpq-ssl.html for libpq SSL mode definitions.`)
  }
}

module.exports = parse

parse.parse = parse
parse.toClientConfig = toClientConfig
parse.parseIntoClientConfig = parseIntoClientConfig


/***/ }),

/***/ 2299:
/***/ ((module) => {



// selected so (BASE - 1) * 0x100000000 + 0xffffffff is a safe integer
var BASE = 1000000;

function readInt8(buffer) {
	var high = buffer.readInt32BE(0);
	var low = buffer.readUInt32BE(4);
	var sign = '';

	if (high < 0) {
		high = ~high + (low === 0);
		low = (~low + 1) >>> 0;
		sign = '-';
	}

	var result = '';
	var carry;
	var t;
	var digits;
	var pad;
	var l;
	var i;

	{
		carry = high % BASE;
		high = high / BASE >>> 0;

		t = 0x100000000 * carry + low;
		low = t / BASE >>> 0;
		digits = '' + (t - BASE * low);

		if (low === 0 && high === 0) {
			return sign + digits + result;
		}

		pad = '';
		l = 6 - digits.length;

		for (i = 0; i < l; i++) {
			pad += '0';
		}

		result = pad + digits + result;
	}

	{
		carry = high % BASE;
		high = high / BASE >>> 0;

		t = 0x100000000 * carry + low;
		low = t / BASE >>> 0;
		digits = '' + (t - BASE * low);

		if (low === 0 && high === 0) {
			return sign + digits + result;
		}

		pad = '';
		l = 6 - digits.length;

		for (i = 0; i < l; i++) {
			pad += '0';
		}

		result = pad + digits + result;
	}

	{
		carry = high % BASE;
		high = high / BASE >>> 0;

		t = 0x100000000 * carry + low;
		low = t / BASE >>> 0;
		digits = '' + (t - BASE * low);

		if (low === 0 && high === 0) {
			return sign + digits + result;
		}

		pad = '';
		l = 6 - digits.length;

		for (i = 0; i < l; i++) {
			pad += '0';
		}

		result = pad + digits + result;
	}

	{
		carry = high % BASE;
		t = 0x100000000 * carry + low;
		digits = '' + t % BASE;

		return sign + digits + result;
	}
}

module.exports = readInt8;


/***/ }),

/***/ 7558:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {


const EventEmitter = (__nccwpck_require__(4434).EventEmitter)

const NOOP = function () {}

const removeWhere = (list, predicate) => {
  const i = list.findIndex(predicate)

  return i === -1 ? undefined : list.splice(i, 1)[0]
}

class IdleItem {
  constructor(client, idleListener, timeoutId) {
    this.client = client
    this.idleListener = idleListener
    this.timeoutId = timeoutId
  }
}

class PendingItem {
  constructor(callback) {
    this.callback = callback
  }
}

function throwOnDoubleRelease() {
  throw new Error('Release called on client which has already been released to the pool.')
}

function promisify(Promise, callback) {
  if (callback) {
    return { callback: callback, result: undefined }
  }
  let rej
  let res
  const cb = function (err, client) {
    err ? rej(err) : res(client)
  }
  const result = new Promise(function (resolve, reject) {
    res = resolve
    rej = reject
  }).catch((err) => {
    // replace the stack trace that leads to `TCP.onStreamRead` with one that leads back to the
    // application that created the query
    Error.captureStackTrace(err)
    throw err
  })
  return { callback: cb, result: result }
}

function makeIdleListener(pool, client) {
  return function idleListener(err) {
    err.client = client

    client.removeListener('error', idleListener)
    client.on('error', () => {
      pool.log('additional client error after disconnection due to error', err)
    })
    pool._remove(client)
    // TODO - document that once the pool emits an error
    // the client has already been closed & purged and is unusable
    pool.emit('error', err, client)
  }
}

class Pool extends EventEmitter {
  constructor(options, Client) {
    super()
    this.options = Object.assign({}, options)

    if (options != null && 'password' in options) {
      // "hiding" the password so it doesn't show up in stack traces
      // or if the client is console.logged
      Object.defineProperty(this.options, 'password', {
        configurable: true,
        enumerable: false,
        writable: true,
        value: options.password,
      })
    }
    if (options != null && options.ssl && options.ssl.key) {
      // "hiding" the ssl->key so it doesn't show up in stack traces
      // or if the client is console.logged
      Object.defineProperty(this.options.ssl, 'key', {
        enumerable: false,
      })
    }

    this.options.max = this.options.max || this.options.poolSize || 10
    this.options.min = this.options.min || 0
    this.options.maxUses = this.options.maxUses || Infinity
    this.options.allowExitOnIdle = this.options.allowExitOnIdle || false
    this.options.maxLifetimeSeconds = this.options.maxLifetimeSeconds || 0
    this.log = this.options.log || function () {}
    this.Client = this.options.Client || Client || (__nccwpck_require__(3273).Client)
    this.Promise = this.options.Promise || global.Promise

    if (typeof this.options.idleTimeoutMillis === 'undefined') {
      this.options.idleTimeoutMillis = 10000
    }

    this._clients = []
    this._idle = []
    this._expired = new WeakSet()
    this._pendingQueue = []
    this._endCallback = undefined
    this.ending = false
    this.ended = false
  }

  _promiseTry(f) {
    const Promise = this.Promise
    if (typeof Promise.try === 'function') {
      return Promise.try(f)
    }
    return new Promise((resolve) => resolve(f()))
  }

  _isFull() {
    return this._clients.length >= this.options.max
  }

  _isAboveMin() {
    return this._clients.length > this.options.min
  }

  _pulseQueue() {
    this.log('pulse queue')
    if (this.ended) {
      this.log('pulse queue ended')
      return
    }
    if (this.ending) {
      this.log('pulse queue on ending')
      if (this._idle.length) {
        this._idle.slice().map((item) => {
          this._remove(item.client)
        })
      }
      if (!this._clients.length) {
        this.ended = true
        this._endCallback()
      }
      return
    }

    // if we don't have any waiting, do nothing
    if (!this._pendingQueue.length) {
      this.log('no queued requests')
      return
    }
    // if we don't have any idle clients and we have no more room do nothing
    if (!this._idle.length && this._isFull()) {
      return
    }
    const pendingItem = this._pendingQueue.shift()
    if (this._idle.length) {
      const idleItem = this._idle.pop()
      clearTimeout(idleItem.timeoutId)
      const client = idleItem.client
      client.ref && client.ref()
      const idleListener = idleItem.idleListener

      return this._acquireClient(client, pendingItem, idleListener, false)
    }
    if (!this._isFull()) {
      return this.newClient(pendingItem)
    }
    throw new Error('unexpected condition')
  }

  _remove(client, callback) {
    const removed = removeWhere(this._idle, (item) => item.client === client)

    if (removed !== undefined) {
      clearTimeout(removed.timeoutId)
    }

    this._clients = this._clients.filter((c) => c !== client)
    const context = this
    client.end(() => {
      context.emit('remove', client)

      if (typeof callback === 'function') {
        callback()
      }
    })
  }

  connect(cb) {
    if (this.ending) {
      const err = new Error('Cannot use a pool after calling end on the pool')
      return cb ? cb(err) : this.Promise.reject(err)
    }

    const response = promisify(this.Promise, cb)
    const result = response.result

    // if we don't have to connect a new client, don't do so
    if (this._isFull() || this._idle.length) {
      // if we have idle clients schedule a pulse immediately
      if (this._idle.length) {
        process.nextTick(() => this._pulseQueue())
      }

      if (!this.options.connectionTimeoutMillis) {
        this._pendingQueue.push(new PendingItem(response.callback))
        return result
      }

      const queueCallback = (err, res, done) => {
        clearTimeout(tid)
        response.callback(err, res, done)
      }

      const pendingItem = new PendingItem(queueCallback)

      // set connection timeout on checking out an existing client
      const tid = setTimeout(() => {
        // remove the callback from pending waiters because
        // we're going to call it with a timeout error
        removeWhere(this._pendingQueue, (i) => i.callback === queueCallback)
        pendingItem.timedOut = true
        response.callback(new Error('timeout exceeded when trying to connect'))
      }, this.options.connectionTimeoutMillis)

      if (tid.unref) {
        tid.unref()
      }

      this._pendingQueue.push(pendingItem)
      return result
    }

    this.newClient(new PendingItem(response.callback))

    return result
  }

  newClient(pendingItem) {
    const client = new this.Client(this.options)
    this._clients.push(client)
    const idleListener = makeIdleListener(this, client)

    this.log('checking client timeout')

    // connection timeout logic
    let tid
    let timeoutHit = false
    if (this.options.connectionTimeoutMillis) {
      tid = setTimeout(() => {
        if (client.connection) {
          this.log('ending client due to timeout')
          timeoutHit = true
          client.connection.stream.destroy()
        } else if (!client.isConnected()) {
          this.log('ending client due to timeout')
          timeoutHit = true
          // force kill the node driver, and let libpq do its teardown
          client.end()
        }
      }, this.options.connectionTimeoutMillis)
    }

    this.log('connecting new client')
    client.connect((err) => {
      if (tid) {
        clearTimeout(tid)
      }
      client.on('error', idleListener)
      if (err) {
        this.log('client failed to connect', err)
        // remove the dead client from our list of clients
        this._clients = this._clients.filter((c) => c !== client)
        if (timeoutHit) {
          err = new Error('Connection terminated due to connection timeout', { cause: err })
        }

        // this client won’t be released, so move on immediately
        this._pulseQueue()

        if (!pendingItem.timedOut) {
          pendingItem.callback(err, undefined, NOOP)
        }
      } else {
        this.log('new client connected')

        if (this.options.onConnect) {
          this._promiseTry(() => this.options.onConnect(client)).then(
            () => {
              this._afterConnect(client, pendingItem, idleListener)
            },
            (hookErr) => {
              this._clients = this._clients.filter((c) => c !== client)
              client.end(() => {
                this._pulseQueue()
                if (!pendingItem.timedOut) {
                  pendingItem.callback(hookErr, undefined, NOOP)
                }
              })
            }
          )
          return
        }

        return this._afterConnect(client, pendingItem, idleListener)
      }
    })
  }

  _afterConnect(client, pendingItem, idleListener) {
    if (this.options.maxLifetimeSeconds !== 0) {
      const maxLifetimeTimeout = setTimeout(() => {
        this.log('ending client due to expired lifetime')
        this._expired.add(client)
        const idleIndex = this._idle.findIndex((idleItem) => idleItem.client === client)
        if (idleIndex !== -1) {
          this._acquireClient(
            client,
            new PendingItem((err, client, clientRelease) => clientRelease()),
            idleListener,
            false
          )
        }
      }, this.options.maxLifetimeSeconds * 1000)

      maxLifetimeTimeout.unref()
      client.once('end', () => clearTimeout(maxLifetimeTimeout))
    }

    return this._acquireClient(client, pendingItem, idleListener, true)
  }

  // acquire a client for a pending work item
  _acquireClient(client, pendingItem, idleListener, isNew) {
    if (isNew) {
      this.emit('connect', client)
    }

    this.emit('acquire', client)

    client.release = this._releaseOnce(client, idleListener)

    client.removeListener('error', idleListener)

    if (!pendingItem.timedOut) {
      if (isNew && this.options.verify) {
        this.options.verify(client, (err) => {
          if (err) {
            client.release(err)
            return pendingItem.callback(err, undefined, NOOP)
          }

          pendingItem.callback(undefined, client, client.release)
        })
      } else {
        pendingItem.callback(undefined, client, client.release)
      }
    } else {
      if (isNew && this.options.verify) {
        this.options.verify(client, client.release)
      } else {
        client.release()
      }
    }
  }

  // returns a function that wraps _release and throws if called more than once
  _releaseOnce(client, idleListener) {
    let released = false

    return (err) => {
      if (released) {
        throwOnDoubleRelease()
      }

      released = true
      this._release(client, idleListener, err)
    }
  }

  // release a client back to the poll, include an error
  // to remove it from the pool
  _release(client, idleListener, err) {
    client.on('error', idleListener)

    client._poolUseCount = (client._poolUseCount || 0) + 1

    this.emit('release', err, client)

    // TODO(bmc): expose a proper, public interface _queryable and _ending
    if (err || this.ending || !client._queryable || client._ending || client._poolUseCount >= this.options.maxUses) {
      if (client._poolUseCount >= this.options.maxUses) {
        this.log('remove expended client')
      }

      return this._remove(client, this._pulseQueue.bind(this))
    }

    const isExpired = this._expired.has(client)
    if (isExpired) {
      this.log('remove expired client')
      this._expired.delete(client)
      return this._remove(client, this._pulseQueue.bind(this))
    }

    // idle timeout
    let tid
    if (this.options.idleTimeoutMillis && this._isAboveMin()) {
      tid = setTimeout(() => {
        if (this._isAboveMin()) {
          this.log('remove idle client')
          this._remove(client, this._pulseQueue.bind(this))
        }
      }, this.options.idleTimeoutMillis)

      if (this.options.allowExitOnIdle) {
        // allow Node to exit if this is all that's left
        tid.unref()
      }
    }

    if (this.options.allowExitOnIdle) {
      client.unref()
    }

    this._idle.push(new IdleItem(client, idleListener, tid))
    this._pulseQueue()
  }

  query(text, values, cb) {
    // guard clause against passing a function as the first parameter
    if (typeof text === 'function') {
      const response = promisify(this.Promise, text)
      setImmediate(function () {
        return response.callback(new Error('Passing a function as the first parameter to pool.query is not supported'))
      })
      return response.result
    }

    // allow plain text query without values, but callback
    if (typeof values === 'function') {
      cb = values
      values = undefined
    }
    const response = promisify(this.Promise, cb)
    cb = response.callback

    this.connect((err, client) => {
      if (err) {
        return cb(err)
      }

      let clientReleased = false
      const onError = (err) => {
        if (clientReleased) {
          return
        }
        clientReleased = true
        client.release(err)
        cb(err)
      }

      client.once('error', onError)
      this.log('dispatching query')
      try {
        client.query(text, values, (err, res) => {
          this.log('query dispatched')
          client.removeListener('error', onError)
          if (clientReleased) {
            return
          }
          clientReleased = true
          client.release(err)
          if (err) {
            return cb(err)
          }
          return cb(undefined, res)
        })
      } catch (err) {
        client.release(err)
        return cb(err)
      }
    })
    return response.result
  }

  end(cb) {
    this.log('ending')
    if (this.ending) {
      const err = new Error('Called end on pool more than once')
      return cb ? cb(err) : this.Promise.reject(err)
    }
    this.ending = true
    const promised = promisify(this.Promise, cb)
    this._endCallback = promised.callback
    this._pulseQueue()
    return promised.result
  }

  get waitingCount() {
    return this._pendingQueue.length
  }

  get idleCount() {
    return this._idle.length
  }

  get expiredCount() {
    return this._clients.reduce((acc, client) => acc + (this._expired.has(client) ? 1 : 0), 0)
  }

  get totalCount() {
    return this._clients.length
  }
}
module.exports = Pool


/***/ }),

/***/ 9971:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.BufferReader = void 0;
class BufferReader {
    constructor(offset = 0) {
        this.offset = offset;
        this.buffer = Buffer.allocUnsafe(0);
        // TODO(bmc): support non-utf8 encoding?
        this.encoding = 'utf-8';
    }
    setBuffer(offset, buffer) {
        this.offset = offset;
        this.buffer = buffer;
    }
    int16() {
        const result = this.buffer.readInt16BE(this.offset);
        this.offset += 2;
        return result;
    }
    byte() {
        const result = this.buffer[this.offset];
        this.offset++;
        return result;
    }
    int32() {
        const result = this.buffer.readInt32BE(this.offset);
        this.offset += 4;
        return result;
    }
    uint32() {
        const result = this.buffer.readUInt32BE(this.offset);
        this.offset += 4;
        return result;
    }
    string(length) {
        const result = this.buffer.toString(this.encoding, this.offset, this.offset + length);
        this.offset += length;
        return result;
    }
    cstring() {
        const start = this.offset;
        let end = start;
        // eslint-disable-next-line no-empty
        while (this.buffer[end++]) { }
        this.offset = end;
        return this.buffer.toString(this.encoding, start, end - 1);
    }
    bytes(length) {
        const result = this.buffer.slice(this.offset, this.offset + length);
        this.offset += length;
        return result;
    }
}
exports.BufferReader = BufferReader;
//# sourceMappingURL=buffer-reader.js.map

/***/ }),

/***/ 9315:
/***/ ((__unused_webpack_module, exports) => {


//binary data writer tuned for encoding binary specific to the postgres binary protocol
Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Writer = void 0;
class Writer {
    constructor(size = 256) {
        this.size = size;
        this.offset = 5;
        this.headerPosition = 0;
        this.buffer = Buffer.allocUnsafe(size);
    }
    ensure(size) {
        const remaining = this.buffer.length - this.offset;
        if (remaining < size) {
            const oldBuffer = this.buffer;
            // exponential growth factor of around ~ 1.5
            // https://stackoverflow.com/questions/2269063/buffer-growth-strategy
            const newSize = oldBuffer.length + (oldBuffer.length >> 1) + size;
            this.buffer = Buffer.allocUnsafe(newSize);
            oldBuffer.copy(this.buffer, 0, 0, this.offset);
        }
    }
    addInt32(num) {
        this.ensure(4);
        this.buffer[this.offset++] = (num >>> 24) & 0xff;
        this.buffer[this.offset++] = (num >>> 16) & 0xff;
        this.buffer[this.offset++] = (num >>> 8) & 0xff;
        this.buffer[this.offset++] = (num >>> 0) & 0xff;
        return this;
    }
    addInt16(num) {
        this.ensure(2);
        this.buffer[this.offset++] = (num >>> 8) & 0xff;
        this.buffer[this.offset++] = (num >>> 0) & 0xff;
        return this;
    }
    addCString(string) {
        if (!string) {
            this.ensure(1);
        }
        else {
            const len = Buffer.byteLength(string);
            this.ensure(len + 1); // +1 for null terminator
            this.buffer.write(string, this.offset, 'utf-8');
            this.offset += len;
        }
        this.buffer[this.offset++] = 0; // null terminator
        return this;
    }
    addString(string = '') {
        const len = Buffer.byteLength(string);
        this.ensure(len);
        this.buffer.write(string, this.offset);
        this.offset += len;
        return this;
    }
    // Write an Int32 byte-length prefix immediately followed by the string's UTF-8
    // bytes. Postgres' Bind wire format prefixes every parameter with its length,
    // and doing it in one method computes Buffer.byteLength ONCE — the previous
    // `addInt32(Buffer.byteLength(s)).addString(s)` pairing scanned the string
    // three times (byteLength for the prefix, byteLength again inside addString,
    // then the encode), which is costly for large text parameters.
    addInt32PrefixedString(string) {
        const len = Buffer.byteLength(string);
        this.ensure(4 + len);
        const buffer = this.buffer;
        let offset = this.offset;
        buffer[offset++] = (len >>> 24) & 0xff;
        buffer[offset++] = (len >>> 16) & 0xff;
        buffer[offset++] = (len >>> 8) & 0xff;
        buffer[offset++] = (len >>> 0) & 0xff;
        buffer.write(string, offset, 'utf-8');
        this.offset = offset + len;
        return this;
    }
    add(otherBuffer) {
        this.ensure(otherBuffer.length);
        otherBuffer.copy(this.buffer, this.offset);
        this.offset += otherBuffer.length;
        return this;
    }
    /**
     * Appends an uninitialized block of {@link size} bytes to the buffer and returns its offset.
     */
    reserveUnsafe(size) {
        const offset = this.offset;
        this.ensure(size);
        this.offset += size;
        return offset;
    }
    join(code) {
        if (code) {
            this.buffer[this.headerPosition] = code;
            //length is everything in this packet minus the code
            const length = this.offset - (this.headerPosition + 1);
            this.buffer.writeInt32BE(length, this.headerPosition + 1);
        }
        return this.buffer.slice(code ? 0 : 5, this.offset);
    }
    flush(code) {
        const result = this.join(code);
        this.offset = 5;
        this.headerPosition = 0;
        this.buffer = Buffer.allocUnsafe(this.size);
        return result;
    }
    clear() {
        this.offset = 5;
        this.headerPosition = 0;
    }
}
exports.Writer = Writer;
//# sourceMappingURL=buffer-writer.js.map

/***/ }),

/***/ 4233:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.DatabaseError = exports.serialize = void 0;
exports.parse = parse;
const messages_1 = __nccwpck_require__(5809);
Object.defineProperty(exports, "DatabaseError", ({ enumerable: true, get: function () { return messages_1.DatabaseError; } }));
const serializer_1 = __nccwpck_require__(6513);
Object.defineProperty(exports, "serialize", ({ enumerable: true, get: function () { return serializer_1.serialize; } }));
const parser_1 = __nccwpck_require__(3318);
function parse(stream, callback) {
    const parser = new parser_1.Parser();
    stream.on('data', (buffer) => parser.parse(buffer, callback));
    return new Promise((resolve) => stream.on('end', () => resolve()));
}
//# sourceMappingURL=index.js.map

/***/ }),

/***/ 5809:
/***/ ((__unused_webpack_module, exports) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.NoticeMessage = exports.DataRowMessage = exports.CommandCompleteMessage = exports.ReadyForQueryMessage = exports.NotificationResponseMessage = exports.BackendKeyDataMessage = exports.AuthenticationMD5Password = exports.ParameterStatusMessage = exports.ParameterDescriptionMessage = exports.RowDescriptionMessage = exports.Field = exports.CopyResponse = exports.CopyDataMessage = exports.DatabaseError = exports.copyDone = exports.emptyQuery = exports.replicationStart = exports.portalSuspended = exports.noData = exports.closeComplete = exports.bindComplete = exports.parseComplete = void 0;
exports.parseComplete = {
    name: 'parseComplete',
    length: 5,
};
exports.bindComplete = {
    name: 'bindComplete',
    length: 5,
};
exports.closeComplete = {
    name: 'closeComplete',
    length: 5,
};
exports.noData = {
    name: 'noData',
    length: 5,
};
exports.portalSuspended = {
    name: 'portalSuspended',
    length: 5,
};
exports.replicationStart = {
    name: 'replicationStart',
    length: 4,
};
exports.emptyQuery = {
    name: 'emptyQuery',
    length: 4,
};
exports.copyDone = {
    name: 'copyDone',
    length: 4,
};
class DatabaseError extends Error {
    constructor(message, length, name) {
        super(message);
        this.length = length;
        this.name = name;
    }
}
exports.DatabaseError = DatabaseError;
class CopyDataMessage {
    constructor(length, chunk) {
        this.length = length;
        this.chunk = chunk;
        this.name = 'copyData';
    }
}
exports.CopyDataMessage = CopyDataMessage;
class CopyResponse {
    constructor(length, name, binary, columnCount) {
        this.length = length;
        this.name = name;
        this.binary = binary;
        this.columnTypes = new Array(columnCount);
    }
}
exports.CopyResponse = CopyResponse;
class Field {
    constructor(name, tableID, columnID, dataTypeID, dataTypeSize, dataTypeModifier, format) {
        this.name = name;
        this.tableID = tableID;
        this.columnID = columnID;
        this.dataTypeID = dataTypeID;
        this.dataTypeSize = dataTypeSize;
        this.dataTypeModifier = dataTypeModifier;
        this.format = format;
    }
}
exports.Field = Field;
class RowDescriptionMessage {
    constructor(length, fieldCount) {
        this.length = length;
        this.fieldCount = fieldCount;
        this.name = 'rowDescription';
        this.fields = new Array(this.fieldCount);
    }
}
exports.RowDescriptionMessage = RowDescriptionMessage;
class ParameterDescriptionMessage {
    constructor(length, parameterCount) {
        this.length = length;
        this.parameterCount = parameterCount;
        this.name = 'parameterDescription';
        this.dataTypeIDs = new Array(this.parameterCount);
    }
}
exports.ParameterDescriptionMessage = ParameterDescriptionMessage;
class ParameterStatusMessage {
    constructor(length, parameterName, parameterValue) {
        this.length = length;
        this.parameterName = parameterName;
        this.parameterValue = parameterValue;
        this.name = 'parameterStatus';
    }
}
exports.ParameterStatusMessage = ParameterStatusMessage;
class AuthenticationMD5Password {
    constructor(length, salt) {
        this.length = length;
        this.salt = salt;
        this.name = 'authenticationMD5Password';
    }
}
exports.AuthenticationMD5Password = AuthenticationMD5Password;
class BackendKeyDataMessage {
    constructor(length, processID, secretKey) {
        this.length = length;
        this.processID = processID;
        this.secretKey = secretKey;
        this.name = 'backendKeyData';
    }
}
exports.BackendKeyDataMessage = BackendKeyDataMessage;
class NotificationResponseMessage {
    constructor(length, processId, channel, payload) {
        this.length = length;
        this.processId = processId;
        this.channel = channel;
        this.payload = payload;
        this.name = 'notification';
    }
}
exports.NotificationResponseMessage = NotificationResponseMessage;
class ReadyForQueryMessage {
    constructor(length, status) {
        this.length = length;
        this.status = status;
        this.name = 'readyForQuery';
    }
}
exports.ReadyForQueryMessage = ReadyForQueryMessage;
class CommandCompleteMessage {
    constructor(length, text) {
        this.length = length;
        this.text = text;
        this.name = 'commandComplete';
    }
}
exports.CommandCompleteMessage = CommandCompleteMessage;
class DataRowMessage {
    constructor(length, fields) {
        this.length = length;
        this.fields = fields;
        this.name = 'dataRow';
        this.fieldCount = fields.length;
    }
}
exports.DataRowMessage = DataRowMessage;
class NoticeMessage {
    constructor(length, message) {
        this.length = length;
        this.message = message;
        this.name = 'notice';
    }
}
exports.NoticeMessage = NoticeMessage;
//# sourceMappingURL=messages.js.map

/***/ }),

/***/ 3318:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.Parser = void 0;
const messages_1 = __nccwpck_require__(5809);
const buffer_reader_1 = __nccwpck_require__(9971);
// every message is prefixed with a single byte
const CODE_LENGTH = 1;
// every message has an int32 length which includes itself but does
// NOT include the code in the length
const LEN_LENGTH = 4;
const HEADER_LENGTH = CODE_LENGTH + LEN_LENGTH;
// A placeholder for a `BackendMessage`’s length value that will be set after construction.
const LATEINIT_LENGTH = -1;
const emptyBuffer = Buffer.allocUnsafe(0);
class Parser {
    constructor(opts) {
        this.buffer = emptyBuffer;
        this.bufferLength = 0;
        this.bufferOffset = 0;
        this.reader = new buffer_reader_1.BufferReader();
        if ((opts === null || opts === void 0 ? void 0 : opts.mode) === 'binary') {
            throw new Error('Binary mode not supported yet');
        }
        this.mode = (opts === null || opts === void 0 ? void 0 : opts.mode) || 'text';
    }
    parse(buffer, callback) {
        this.mergeBuffer(buffer);
        const bufferFullLength = this.bufferOffset + this.bufferLength;
        let offset = this.bufferOffset;
        while (offset + HEADER_LENGTH <= bufferFullLength) {
            // code is 1 byte long - it identifies the message type
            const code = this.buffer[offset];
            // length is 1 Uint32BE - it is the length of the message EXCLUDING the code
            const length = this.buffer.readUInt32BE(offset + CODE_LENGTH);
            const fullMessageLength = CODE_LENGTH + length;
            if (fullMessageLength + offset <= bufferFullLength) {
                const message = this.handlePacket(offset + HEADER_LENGTH, code, length, this.buffer);
                callback(message);
                offset += fullMessageLength;
            }
            else {
                break;
            }
        }
        if (offset === bufferFullLength) {
            // No more use for the buffer
            this.buffer = emptyBuffer;
            this.bufferLength = 0;
            this.bufferOffset = 0;
        }
        else {
            // Adjust the cursors of remainingBuffer
            this.bufferLength = bufferFullLength - offset;
            this.bufferOffset = offset;
        }
    }
    mergeBuffer(buffer) {
        if (this.bufferLength > 0) {
            const newLength = this.bufferLength + buffer.byteLength;
            const newFullLength = newLength + this.bufferOffset;
            if (newFullLength > this.buffer.byteLength) {
                // We can't concat the new buffer with the remaining one
                let newBuffer;
                if (newLength <= this.buffer.byteLength && this.bufferOffset >= this.bufferLength) {
                    // We can move the relevant part to the beginning of the buffer instead of allocating a new buffer
                    newBuffer = this.buffer;
                }
                else {
                    // Allocate a new larger buffer
                    let newBufferLength = this.buffer.byteLength * 2;
                    while (newLength >= newBufferLength) {
                        newBufferLength *= 2;
                    }
                    newBuffer = Buffer.allocUnsafe(newBufferLength);
                }
                // Move the remaining buffer to the new one
                this.buffer.copy(newBuffer, 0, this.bufferOffset, this.bufferOffset + this.bufferLength);
                this.buffer = newBuffer;
                this.bufferOffset = 0;
            }
            // Concat the new buffer with the remaining one
            buffer.copy(this.buffer, this.bufferOffset + this.bufferLength);
            this.bufferLength = newLength;
        }
        else {
            this.buffer = buffer;
            this.bufferOffset = 0;
            this.bufferLength = buffer.byteLength;
        }
    }
    handlePacket(offset, code, length, bytes) {
        const { reader } = this;
        // NOTE: This undesirably retains the buffer in `this.reader` if the `parse*Message` calls below throw. However, those should only throw in the case of a protocol error, which normally results in the reader being discarded.
        reader.setBuffer(offset, bytes);
        let message;
        switch (code) {
            case 50 /* MessageCodes.BindComplete */:
                message = messages_1.bindComplete;
                break;
            case 49 /* MessageCodes.ParseComplete */:
                message = messages_1.parseComplete;
                break;
            case 51 /* MessageCodes.CloseComplete */:
                message = messages_1.closeComplete;
                break;
            case 110 /* MessageCodes.NoData */:
                message = messages_1.noData;
                break;
            case 115 /* MessageCodes.PortalSuspended */:
                message = messages_1.portalSuspended;
                break;
            case 99 /* MessageCodes.CopyDone */:
                message = messages_1.copyDone;
                break;
            case 87 /* MessageCodes.ReplicationStart */:
                message = messages_1.replicationStart;
                break;
            case 73 /* MessageCodes.EmptyQuery */:
                message = messages_1.emptyQuery;
                break;
            case 68 /* MessageCodes.DataRow */:
                message = parseDataRowMessage(reader);
                break;
            case 67 /* MessageCodes.CommandComplete */:
                message = parseCommandCompleteMessage(reader);
                break;
            case 90 /* MessageCodes.ReadyForQuery */:
                message = parseReadyForQueryMessage(reader);
                break;
            case 65 /* MessageCodes.NotificationResponse */:
                message = parseNotificationMessage(reader);
                break;
            case 82 /* MessageCodes.AuthenticationResponse */:
                message = parseAuthenticationResponse(reader, length);
                break;
            case 83 /* MessageCodes.ParameterStatus */:
                message = parseParameterStatusMessage(reader);
                break;
            case 75 /* MessageCodes.BackendKeyData */:
                message = parseBackendKeyData(reader);
                break;
            case 69 /* MessageCodes.ErrorMessage */:
                message = parseErrorMessage(reader, 'error');
                break;
            case 78 /* MessageCodes.NoticeMessage */:
                message = parseErrorMessage(reader, 'notice');
                break;
            case 84 /* MessageCodes.RowDescriptionMessage */:
                message = parseRowDescriptionMessage(reader);
                break;
            case 116 /* MessageCodes.ParameterDescriptionMessage */:
                message = parseParameterDescriptionMessage(reader);
                break;
            case 71 /* MessageCodes.CopyIn */:
                message = parseCopyInMessage(reader);
                break;
            case 72 /* MessageCodes.CopyOut */:
                message = parseCopyOutMessage(reader);
                break;
            case 100 /* MessageCodes.CopyData */:
                message = parseCopyData(reader, length);
                break;
            default:
                return new messages_1.DatabaseError('received invalid response: ' + code.toString(16), length, 'error');
        }
        reader.setBuffer(0, emptyBuffer);
        message.length = length;
        return message;
    }
}
exports.Parser = Parser;
const parseReadyForQueryMessage = (reader) => {
    const status = reader.string(1);
    return new messages_1.ReadyForQueryMessage(LATEINIT_LENGTH, status);
};
const parseCommandCompleteMessage = (reader) => {
    const text = reader.cstring();
    return new messages_1.CommandCompleteMessage(LATEINIT_LENGTH, text);
};
const parseCopyData = (reader, length) => {
    const chunk = reader.bytes(length - 4);
    return new messages_1.CopyDataMessage(LATEINIT_LENGTH, chunk);
};
const parseCopyInMessage = (reader) => parseCopyMessage(reader, 'copyInResponse');
const parseCopyOutMessage = (reader) => parseCopyMessage(reader, 'copyOutResponse');
const parseCopyMessage = (reader, messageName) => {
    const isBinary = reader.byte() !== 0;
    const columnCount = reader.int16();
    const message = new messages_1.CopyResponse(LATEINIT_LENGTH, messageName, isBinary, columnCount);
    for (let i = 0; i < columnCount; i++) {
        message.columnTypes[i] = reader.int16();
    }
    return message;
};
const parseNotificationMessage = (reader) => {
    const processId = reader.int32();
    const channel = reader.cstring();
    const payload = reader.cstring();
    return new messages_1.NotificationResponseMessage(LATEINIT_LENGTH, processId, channel, payload);
};
const parseRowDescriptionMessage = (reader) => {
    const fieldCount = reader.int16();
    const message = new messages_1.RowDescriptionMessage(LATEINIT_LENGTH, fieldCount);
    for (let i = 0; i < fieldCount; i++) {
        message.fields[i] = parseField(reader);
    }
    return message;
};
const parseField = (reader) => {
    const name = reader.cstring();
    const tableID = reader.uint32();
    const columnID = reader.int16();
    const dataTypeID = reader.uint32();
    const dataTypeSize = reader.int16();
    const dataTypeModifier = reader.int32();
    const mode = reader.int16() === 0 ? 'text' : 'binary';
    return new messages_1.Field(name, tableID, columnID, dataTypeID, dataTypeSize, dataTypeModifier, mode);
};
const parseParameterDescriptionMessage = (reader) => {
    const parameterCount = reader.int16();
    const message = new messages_1.ParameterDescriptionMessage(LATEINIT_LENGTH, parameterCount);
    for (let i = 0; i < parameterCount; i++) {
        // OIDs are unsigned, same as dataTypeID in parseField above
        message.dataTypeIDs[i] = reader.uint32();
    }
    return message;
};
const parseDataRowMessage = (reader) => {
    const fieldCount = reader.int16();
    const fields = new Array(fieldCount);
    for (let i = 0; i < fieldCount; i++) {
        const len = reader.int32();
        // a -1 for length means the value of the field is null
        fields[i] = len === -1 ? null : reader.string(len);
    }
    return new messages_1.DataRowMessage(LATEINIT_LENGTH, fields);
};
const parseParameterStatusMessage = (reader) => {
    const name = reader.cstring();
    const value = reader.cstring();
    return new messages_1.ParameterStatusMessage(LATEINIT_LENGTH, name, value);
};
const parseBackendKeyData = (reader) => {
    const processID = reader.int32();
    const secretKey = reader.int32();
    return new messages_1.BackendKeyDataMessage(LATEINIT_LENGTH, processID, secretKey);
};
const parseAuthenticationResponse = (reader, length) => {
    const code = reader.int32();
    // TODO(bmc): maybe better types here
    const message = {
        name: 'authenticationOk',
        length,
    };
    switch (code) {
        case 0: // AuthenticationOk
            break;
        case 3: // AuthenticationCleartextPassword
            if (message.length === 8) {
                message.name = 'authenticationCleartextPassword';
            }
            break;
        case 5: // AuthenticationMD5Password
            if (message.length === 12) {
                message.name = 'authenticationMD5Password';
                const salt = reader.bytes(4);
                return new messages_1.AuthenticationMD5Password(LATEINIT_LENGTH, salt);
            }
            break;
        case 10: // AuthenticationSASL
            {
                message.name = 'authenticationSASL';
                message.mechanisms = [];
                let mechanism;
                do {
                    mechanism = reader.cstring();
                    if (mechanism) {
                        message.mechanisms.push(mechanism);
                    }
                } while (mechanism);
            }
            break;
        case 11: // AuthenticationSASLContinue
            message.name = 'authenticationSASLContinue';
            message.data = reader.string(length - 8);
            break;
        case 12: // AuthenticationSASLFinal
            message.name = 'authenticationSASLFinal';
            message.data = reader.string(length - 8);
            break;
        default:
            throw new Error('Unknown authenticationOk message type ' + code);
    }
    return message;
};
const parseErrorMessage = (reader, name) => {
    const fields = {};
    let fieldType = reader.string(1);
    while (fieldType !== '\0') {
        fields[fieldType] = reader.cstring();
        fieldType = reader.string(1);
    }
    const messageValue = fields.M;
    const message = name === 'notice'
        ? new messages_1.NoticeMessage(LATEINIT_LENGTH, messageValue)
        : new messages_1.DatabaseError(messageValue, LATEINIT_LENGTH, name);
    message.severity = fields.S;
    message.code = fields.C;
    message.detail = fields.D;
    message.hint = fields.H;
    message.position = fields.P;
    message.internalPosition = fields.p;
    message.internalQuery = fields.q;
    message.where = fields.W;
    message.schema = fields.s;
    message.table = fields.t;
    message.column = fields.c;
    message.dataType = fields.d;
    message.constraint = fields.n;
    message.file = fields.F;
    message.line = fields.L;
    message.routine = fields.R;
    return message;
};
//# sourceMappingURL=parser.js.map

/***/ }),

/***/ 6513:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {


Object.defineProperty(exports, "__esModule", ({ value: true }));
exports.serialize = void 0;
const buffer_writer_1 = __nccwpck_require__(9315);
const writer = new buffer_writer_1.Writer();
const startup = (opts) => {
    // protocol version
    writer.addInt16(3).addInt16(0);
    for (const key of Object.keys(opts)) {
        writer.addCString(key).addCString(opts[key]);
    }
    writer.addCString('client_encoding').addCString('UTF8');
    const bodyBuffer = writer.addCString('').flush();
    // this message is sent without a code
    const length = bodyBuffer.length + 4;
    return new buffer_writer_1.Writer().addInt32(length).add(bodyBuffer).flush();
};
const requestSsl = () => {
    const response = Buffer.allocUnsafe(8);
    response.writeInt32BE(8, 0);
    response.writeInt32BE(80877103, 4);
    return response;
};
const password = (password) => {
    return writer.addCString(password).flush(112 /* code.startup */);
};
const sendSASLInitialResponseMessage = function (mechanism, initialResponse) {
    // 0x70 = 'p'
    writer.addCString(mechanism).addInt32PrefixedString(initialResponse);
    return writer.flush(112 /* code.startup */);
};
const sendSCRAMClientFinalMessage = function (additionalData) {
    return writer.addString(additionalData).flush(112 /* code.startup */);
};
const query = (text) => {
    return writer.addCString(text).flush(81 /* code.query */);
};
const emptyArray = [];
const parse = (query) => {
    // expect something like this:
    // { name: 'queryName',
    //   text: 'select * from blah',
    //   types: ['int8', 'bool'] }
    // normalize missing query names to allow for null
    const name = query.name || '';
    if (name.length > 63) {
        console.error('Warning! Postgres only supports 63 characters for query names.');
        console.error('You supplied %s (%s)', name, name.length);
        console.error('This can cause conflicts and silent errors executing queries');
    }
    const types = query.types || emptyArray;
    const len = types.length;
    const buffer = writer
        .addCString(name) // name of query
        .addCString(query.text) // actual query text
        .addInt16(len);
    for (let i = 0; i < len; i++) {
        buffer.addInt32(types[i]);
    }
    return writer.flush(80 /* code.parse */);
};
const writeValues = function (values, valueMapper, formatsOffset) {
    const len = values.length;
    for (let i = 0; i < len; i++) {
        const mappedVal = valueMapper ? valueMapper(values[i], i) : values[i];
        let formatByte = 0 /* ParamType.STRING */;
        if (mappedVal == null) {
            // write -1 to indicate null
            writer.addInt32(-1);
        }
        else if (mappedVal instanceof Buffer) {
            formatByte = 1 /* ParamType.BINARY */;
            // add the buffer to the param writer
            writer.addInt32(mappedVal.length);
            writer.add(mappedVal);
        }
        else {
            // length prefix + UTF-8 bytes in one pass (Buffer.byteLength computed once)
            writer.addInt32PrefixedString(mappedVal);
        }
        // beware: `writer` operations can replace `writer.buffer` with a new buffer
        const buf = writer.buffer;
        buf[formatsOffset++] = 0;
        buf[formatsOffset++] = formatByte;
    }
};
const bind = (config = {}) => {
    // normalize config
    const portal = config.portal || '';
    const statement = config.statement || '';
    const binary = config.binary || false;
    const values = config.values || emptyArray;
    const len = values.length;
    writer.addCString(portal).addCString(statement);
    // number of parameter format codes
    writer.addInt16(len);
    // space for those codes, filled by `writeValues`
    const formatsOffset = writer.reserveUnsafe(len * 2);
    // number of parameter values
    writer.addInt16(len);
    try {
        writeValues(values, config.valueMapper, formatsOffset);
    }
    catch (err) {
        writer.clear();
        throw err;
    }
    // all results use the same format code
    writer.addInt16(1);
    // format code
    writer.addInt16(binary ? 1 /* ParamType.BINARY */ : 0 /* ParamType.STRING */);
    return writer.flush(66 /* code.bind */);
};
const emptyExecute = Buffer.from([69 /* code.execute */, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00]);
const execute = (config) => {
    // this is the happy path for most queries
    if (!config || (!config.portal && !config.rows)) {
        return emptyExecute;
    }
    const portal = config.portal || '';
    const rows = config.rows || 0;
    const portalLength = Buffer.byteLength(portal);
    const len = 4 + portalLength + 1 + 4;
    // one extra bit for code
    const buff = Buffer.allocUnsafe(1 + len);
    buff[0] = 69 /* code.execute */;
    buff.writeInt32BE(len, 1);
    buff.write(portal, 5, 'utf-8');
    buff[portalLength + 5] = 0; // null terminate portal cString
    buff.writeUInt32BE(rows, buff.length - 4);
    return buff;
};
const cancel = (processID, secretKey) => {
    const buffer = Buffer.allocUnsafe(16);
    buffer.writeInt32BE(16, 0);
    buffer.writeInt16BE(1234, 4);
    buffer.writeInt16BE(5678, 6);
    buffer.writeInt32BE(processID, 8);
    buffer.writeInt32BE(secretKey, 12);
    return buffer;
};
const cstringMessage = (code, string) => {
    const stringLen = Buffer.byteLength(string);
    const len = 4 + stringLen + 1;
    // one extra bit for code
    const buffer = Buffer.allocUnsafe(1 + len);
    buffer[0] = code;
    buffer.writeInt32BE(len, 1);
    buffer.write(string, 5, 'utf-8');
    buffer[len] = 0; // null terminate cString
    return buffer;
};
const emptyDescribePortal = writer.addCString('P').flush(68 /* code.describe */);
const emptyDescribeStatement = writer.addCString('S').flush(68 /* code.describe */);
const describe = (msg) => {
    return msg.name
        ? cstringMessage(68 /* code.describe */, `${msg.type}${msg.name || ''}`)
        : msg.type === 'P'
            ? emptyDescribePortal
            : emptyDescribeStatement;
};
const close = (msg) => {
    const text = `${msg.type}${msg.name || ''}`;
    return cstringMessage(67 /* code.close */, text);
};
const copyData = (chunk) => {
    return writer.add(chunk).flush(100 /* code.copyFromChunk */);
};
const copyFail = (message) => {
    return cstringMessage(102 /* code.copyFail */, message);
};
const codeOnlyBuffer = (code) => Buffer.from([code, 0x00, 0x00, 0x00, 0x04]);
const flushBuffer = codeOnlyBuffer(72 /* code.flush */);
const syncBuffer = codeOnlyBuffer(83 /* code.sync */);
const endBuffer = codeOnlyBuffer(88 /* code.end */);
const copyDoneBuffer = codeOnlyBuffer(99 /* code.copyDone */);
const serialize = {
    startup,
    password,
    requestSsl,
    sendSASLInitialResponseMessage,
    sendSCRAMClientFinalMessage,
    query,
    parse,
    bind,
    execute,
    describe,
    close,
    flush: () => flushBuffer,
    sync: () => syncBuffer,
    end: () => endBuffer,
    copyData,
    copyDone: () => copyDoneBuffer,
    copyFail,
    cancel,
};
exports.serialize = serialize;
//# sourceMappingURL=serializer.js.map

/***/ }),

/***/ 1549:
/***/ ((__unused_webpack_module, exports, __nccwpck_require__) => {

var textParsers = __nccwpck_require__(4784);
var binaryParsers = __nccwpck_require__(7522);
var arrayParser = __nccwpck_require__(6471);
var builtinTypes = __nccwpck_require__(6345);

exports.getTypeParser = getTypeParser;
exports.setTypeParser = setTypeParser;
exports.arrayParser = arrayParser;
exports.builtins = builtinTypes;

var typeParsers = {
  text: {},
  binary: {}
};

//the empty parse function
function noParse (val) {
  return String(val);
};

//returns a function used to convert a specific type (specified by
//oid) into a result javascript type
//note: the oid can be obtained via the following sql query:
//SELECT oid FROM pg_type WHERE typname = 'TYPE_NAME_HERE';
function getTypeParser (oid, format) {
  format = format || 'text';
  if (!typeParsers[format]) {
    return noParse;
  }
  return typeParsers[format][oid] || noParse;
};

function setTypeParser (oid, format, parseFn) {
  if(typeof format == 'function') {
    parseFn = format;
    format = 'text';
  }
  typeParsers[format][oid] = parseFn;
};

textParsers.init(function(oid, converter) {
  typeParsers.text[oid] = converter;
});

binaryParsers.init(function(oid, converter) {
  typeParsers.binary[oid] = converter;
});


/***/ }),

/***/ 6471:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

var array = __nccwpck_require__(3879);

module.exports = {
  create: function (source, transform) {
    return {
      parse: function() {
        return array.parse(source, transform);
      }
    };
  }
};


/***/ }),

/***/ 7522:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

var parseInt64 = __nccwpck_require__(2299);

var parseBits = function(data, bits, offset, invert, callback) {
  offset = offset || 0;
  invert = invert || false;
  callback = callback || function(lastValue, newValue, bits) { return (lastValue * Math.pow(2, bits)) + newValue; };
  var offsetBytes = offset >> 3;

  var inv = function(value) {
    if (invert) {
      return ~value & 0xff;
    }

    return value;
  };

  // read first (maybe partial) byte
  var mask = 0xff;
  var firstBits = 8 - (offset % 8);
  if (bits < firstBits) {
    mask = (0xff << (8 - bits)) & 0xff;
    firstBits = bits;
  }

  if (offset) {
    mask = mask >> (offset % 8);
  }

  var result = 0;
  if ((offset % 8) + bits >= 8) {
    result = callback(0, inv(data[offsetBytes]) & mask, firstBits);
  }

  // read bytes
  var bytes = (bits + offset) >> 3;
  for (var i = offsetBytes + 1; i < bytes; i++) {
    result = callback(result, inv(data[i]), 8);
  }

  // bits to read, that are not a complete byte
  var lastBits = (bits + offset) % 8;
  if (lastBits > 0) {
    result = callback(result, inv(data[bytes]) >> (8 - lastBits), lastBits);
  }

  return result;
};

var parseFloatFromBits = function(data, precisionBits, exponentBits) {
  var bias = Math.pow(2, exponentBits - 1) - 1;
  var sign = parseBits(data, 1);
  var exponent = parseBits(data, exponentBits, 1);

  if (exponent === 0) {
    return 0;
  }

  // parse mantissa
  var precisionBitsCounter = 1;
  var parsePrecisionBits = function(lastValue, newValue, bits) {
    if (lastValue === 0) {
      lastValue = 1;
    }

    for (var i = 1; i <= bits; i++) {
      precisionBitsCounter /= 2;
      if ((newValue & (0x1 << (bits - i))) > 0) {
        lastValue += precisionBitsCounter;
      }
    }

    return lastValue;
  };

  var mantissa = parseBits(data, precisionBits, exponentBits + 1, false, parsePrecisionBits);

  // special cases
  if (exponent == (Math.pow(2, exponentBits + 1) - 1)) {
    if (mantissa === 0) {
      return (sign === 0) ? Infinity : -Infinity;
    }

    return NaN;
  }

  // normale number
  return ((sign === 0) ? 1 : -1) * Math.pow(2, exponent - bias) * mantissa;
};

var parseInt16 = function(value) {
  if (parseBits(value, 1) == 1) {
    return -1 * (parseBits(value, 15, 1, true) + 1);
  }

  return parseBits(value, 15, 1);
};

var parseInt32 = function(value) {
  if (parseBits(value, 1) == 1) {
    return -1 * (parseBits(value, 31, 1, true) + 1);
  }

  return parseBits(value, 31, 1);
};

var parseFloat32 = function(value) {
  return parseFloatFromBits(value, 23, 8);
};

var parseFloat64 = function(value) {
  return parseFloatFromBits(value, 52, 11);
};

var parseNumeric = function(value) {
  var sign = parseBits(value, 16, 32);
  if (sign == 0xc000) {
    return NaN;
  }

  var weight = Math.pow(10000, parseBits(value, 16, 16));
  var result = 0;

  var digits = [];
  var ndigits = parseBits(value, 16);
  for (var i = 0; i < ndigits; i++) {
    result += parseBits(value, 16, 64 + (16 * i)) * weight;
    weight /= 10000;
  }

  var scale = Math.pow(10, parseBits(value, 16, 48));
  return ((sign === 0) ? 1 : -1) * Math.round(result * scale) / scale;
};

var parseDate = function(isUTC, value) {
  var sign = parseBits(value, 1);
  var rawValue = parseBits(value, 63, 1);

  // discard usecs and shift from 2000 to 1970
  var result = new Date((((sign === 0) ? 1 : -1) * rawValue / 1000) + 946684800000);

  if (!isUTC) {
    result.setTime(result.getTime() + result.getTimezoneOffset() * 60000);
  }

  // add microseconds to the date
  result.usec = rawValue % 1000;
  result.getMicroSeconds = function() {
    return this.usec;
  };
  result.setMicroSeconds = function(value) {
    this.usec = value;
  };
  result.getUTCMicroSeconds = function() {
    return this.usec;
  };

  return result;
};

var parseArray = function(value) {
  var dim = parseBits(value, 32);

  var flags = parseBits(value, 32, 32);
  var elementType = parseBits(value, 32, 64);

  var offset = 96;
  var dims = [];
  for (var i = 0; i < dim; i++) {
    // parse dimension
    dims[i] = parseBits(value, 32, offset);
    offset += 32;

    // ignore lower bounds
    offset += 32;
  }

  var parseElement = function(elementType) {
    // parse content length
    var length = parseBits(value, 32, offset);
    offset += 32;

    // parse null values
    if (length == 0xffffffff) {
      return null;
    }

    var result;
    if ((elementType == 0x17) || (elementType == 0x14)) {
      // int/bigint
      result = parseBits(value, length * 8, offset);
      offset += length * 8;
      return result;
    }
    else if (elementType == 0x19) {
      // string
      result = value.toString(this.encoding, offset >> 3, (offset += (length << 3)) >> 3);
      return result;
    }
    else {
      console.log("ERROR: ElementType not implemented: " + elementType);
    }
  };

  var parse = function(dimension, elementType) {
    var array = [];
    var i;

    if (dimension.length > 1) {
      var count = dimension.shift();
      for (i = 0; i < count; i++) {
        array[i] = parse(dimension, elementType);
      }
      dimension.unshift(count);
    }
    else {
      for (i = 0; i < dimension[0]; i++) {
        array[i] = parseElement(elementType);
      }
    }

    return array;
  };

  return parse(dims, elementType);
};

var parseText = function(value) {
  return value.toString('utf8');
};

var parseBool = function(value) {
  if(value === null) return null;
  return (parseBits(value, 8) > 0);
};

var init = function(register) {
  register(20, parseInt64);
  register(21, parseInt16);
  register(23, parseInt32);
  register(26, parseInt32);
  register(1700, parseNumeric);
  register(700, parseFloat32);
  register(701, parseFloat64);
  register(16, parseBool);
  register(1114, parseDate.bind(null, false));
  register(1184, parseDate.bind(null, true));
  register(1000, parseArray);
  register(1007, parseArray);
  register(1016, parseArray);
  register(1008, parseArray);
  register(1009, parseArray);
  register(25, parseText);
};

module.exports = {
  init: init
};


/***/ }),

/***/ 6345:
/***/ ((module) => {

/**
 * Following query was used to generate this file:

 SELECT json_object_agg(UPPER(PT.typname), PT.oid::int4 ORDER BY pt.oid)
 FROM pg_type PT
 WHERE typnamespace = (SELECT pgn.oid FROM pg_namespace pgn WHERE nspname = 'pg_catalog') -- Take only builting Postgres types with stable OID (extension types are not guaranted to be stable)
 AND typtype = 'b' -- Only basic types
 AND typelem = 0 -- Ignore aliases
 AND typisdefined -- Ignore undefined types
 */

module.exports = {
    BOOL: 16,
    BYTEA: 17,
    CHAR: 18,
    INT8: 20,
    INT2: 21,
    INT4: 23,
    REGPROC: 24,
    TEXT: 25,
    OID: 26,
    TID: 27,
    XID: 28,
    CID: 29,
    JSON: 114,
    XML: 142,
    PG_NODE_TREE: 194,
    SMGR: 210,
    PATH: 602,
    POLYGON: 604,
    CIDR: 650,
    FLOAT4: 700,
    FLOAT8: 701,
    ABSTIME: 702,
    RELTIME: 703,
    TINTERVAL: 704,
    CIRCLE: 718,
    MACADDR8: 774,
    MONEY: 790,
    MACADDR: 829,
    INET: 869,
    ACLITEM: 1033,
    BPCHAR: 1042,
    VARCHAR: 1043,
    DATE: 1082,
    TIME: 1083,
    TIMESTAMP: 1114,
    TIMESTAMPTZ: 1184,
    INTERVAL: 1186,
    TIMETZ: 1266,
    BIT: 1560,
    VARBIT: 1562,
    NUMERIC: 1700,
    REFCURSOR: 1790,
    REGPROCEDURE: 2202,
    REGOPER: 2203,
    REGOPERATOR: 2204,
    REGCLASS: 2205,
    REGTYPE: 2206,
    UUID: 2950,
    TXID_SNAPSHOT: 2970,
    PG_LSN: 3220,
    PG_NDISTINCT: 3361,
    PG_DEPENDENCIES: 3402,
    TSVECTOR: 3614,
    TSQUERY: 3615,
    GTSVECTOR: 3642,
    REGCONFIG: 3734,
    REGDICTIONARY: 3769,
    JSONB: 3802,
    REGNAMESPACE: 4089,
    REGROLE: 4096
};


/***/ }),

/***/ 4784:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

var array = __nccwpck_require__(3879)
var arrayParser = __nccwpck_require__(6471);
var parseDate = __nccwpck_require__(2690);
var parseInterval = __nccwpck_require__(8755);
var parseByteA = __nccwpck_require__(463);

function allowNull (fn) {
  return function nullAllowed (value) {
    if (value === null) return value
    return fn(value)
  }
}

function parseBool (value) {
  if (value === null) return value
  return value === 'TRUE' ||
    value === 't' ||
    value === 'true' ||
    value === 'y' ||
    value === 'yes' ||
    value === 'on' ||
    value === '1';
}

function parseBoolArray (value) {
  if (!value) return null
  return array.parse(value, parseBool)
}

function parseBaseTenInt (string) {
  return parseInt(string, 10)
}

function parseIntegerArray (value) {
  if (!value) return null
  return array.parse(value, allowNull(parseBaseTenInt))
}

function parseBigIntegerArray (value) {
  if (!value) return null
  return array.parse(value, allowNull(function (entry) {
    return parseBigInteger(entry).trim()
  }))
}

var parsePointArray = function(value) {
  if(!value) { return null; }
  var p = arrayParser.create(value, function(entry) {
    if(entry !== null) {
      entry = parsePoint(entry);
    }
    return entry;
  });

  return p.parse();
};

var parseFloatArray = function(value) {
  if(!value) { return null; }
  var p = arrayParser.create(value, function(entry) {
    if(entry !== null) {
      entry = parseFloat(entry);
    }
    return entry;
  });

  return p.parse();
};

var parseStringArray = function(value) {
  if(!value) { return null; }

  var p = arrayParser.create(value);
  return p.parse();
};

var parseDateArray = function(value) {
  if (!value) { return null; }

  var p = arrayParser.create(value, function(entry) {
    if (entry !== null) {
      entry = parseDate(entry);
    }
    return entry;
  });

  return p.parse();
};

var parseIntervalArray = function(value) {
  if (!value) { return null; }

  var p = arrayParser.create(value, function(entry) {
    if (entry !== null) {
      entry = parseInterval(entry);
    }
    return entry;
  });

  return p.parse();
};

var parseByteAArray = function(value) {
  if (!value) { return null; }

  return array.parse(value, allowNull(parseByteA));
};

var parseInteger = function(value) {
  return parseInt(value, 10);
};

var parseBigInteger = function(value) {
  var valStr = String(value);
  if (/^\d+$/.test(valStr)) { return valStr; }
  return value;
};

var parseJsonArray = function(value) {
  if (!value) { return null; }

  return array.parse(value, allowNull(JSON.parse));
};

var parsePoint = function(value) {
  if (value[0] !== '(') { return null; }

  value = value.substring( 1, value.length - 1 ).split(',');

  return {
    x: parseFloat(value[0])
  , y: parseFloat(value[1])
  };
};

var parseCircle = function(value) {
  if (value[0] !== '<' && value[1] !== '(') { return null; }

  var point = '(';
  var radius = '';
  var pointParsed = false;
  for (var i = 2; i < value.length - 1; i++){
    if (!pointParsed) {
      point += value[i];
    }

    if (value[i] === ')') {
      pointParsed = true;
      continue;
    } else if (!pointParsed) {
      continue;
    }

    if (value[i] === ','){
      continue;
    }

    radius += value[i];
  }
  var result = parsePoint(point);
  result.radius = parseFloat(radius);

  return result;
};

var init = function(register) {
  register(20, parseBigInteger); // int8
  register(21, parseInteger); // int2
  register(23, parseInteger); // int4
  register(26, parseInteger); // oid
  register(700, parseFloat); // float4/real
  register(701, parseFloat); // float8/double
  register(16, parseBool);
  register(1082, parseDate); // date
  register(1114, parseDate); // timestamp without timezone
  register(1184, parseDate); // timestamp
  register(600, parsePoint); // point
  register(651, parseStringArray); // cidr[]
  register(718, parseCircle); // circle
  register(1000, parseBoolArray);
  register(1001, parseByteAArray);
  register(1005, parseIntegerArray); // _int2
  register(1007, parseIntegerArray); // _int4
  register(1028, parseIntegerArray); // oid[]
  register(1016, parseBigIntegerArray); // _int8
  register(1017, parsePointArray); // point[]
  register(1021, parseFloatArray); // _float4
  register(1022, parseFloatArray); // _float8
  register(1231, parseFloatArray); // _numeric
  register(1014, parseStringArray); //char
  register(1015, parseStringArray); //varchar
  register(1008, parseStringArray);
  register(1009, parseStringArray);
  register(1040, parseStringArray); // macaddr[]
  register(1041, parseStringArray); // inet[]
  register(1115, parseDateArray); // timestamp without time zone[]
  register(1182, parseDateArray); // _date
  register(1185, parseDateArray); // timestamp with time zone[]
  register(1186, parseInterval);
  register(1187, parseIntervalArray);
  register(17, parseByteA);
  register(114, JSON.parse.bind(JSON)); // json
  register(3802, JSON.parse.bind(JSON)); // jsonb
  register(199, parseJsonArray); // json[]
  register(3807, parseJsonArray); // jsonb[]
  register(3907, parseStringArray); // numrange[]
  register(2951, parseStringArray); // uuid[]
  register(791, parseStringArray); // money[]
  register(1183, parseStringArray); // time[]
  register(1270, parseStringArray); // timetz[]
};

module.exports = {
  init: init
};


/***/ }),

/***/ 5042:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const EventEmitter = (__nccwpck_require__(4434).EventEmitter)
const utils = __nccwpck_require__(9652)
const nodeUtils = __nccwpck_require__(9023)
const sasl = __nccwpck_require__(948)
const TypeOverrides = __nccwpck_require__(365)

const ConnectionParameters = __nccwpck_require__(646)
const Query = __nccwpck_require__(4473)
const defaults = __nccwpck_require__(8995)
const Connection = __nccwpck_require__(9809)
const crypto = __nccwpck_require__(4150)

const activeQueryDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Client.activeQuery is deprecated and will be removed in pg@9.0'
)

const queryQueueDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Client.queryQueue is deprecated and will be removed in pg@9.0.'
)

const pgPassDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'pgpass support is deprecated and will be removed in pg@9.0. ' +
    'You can provide an async function as the password property to the Client/Pool constructor that returns a password instead. Within this function you can call the pgpass module in your own code.'
)

const byoPromiseDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Passing a custom Promise implementation to the Client/Pool constructor is deprecated and will be removed in pg@9.0.'
)

const queryQueueLengthDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Calling client.query() when the client is already executing a query is deprecated and will be removed in pg@9.0. Use async/await or an external async flow control mechanism instead.'
)

function coerceNumberOrDefault(value, defaultValue) {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : defaultValue
  }
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value)
    return Number.isFinite(n) ? n : defaultValue
  }
  return defaultValue
}

class Client extends EventEmitter {
  constructor(config) {
    super()

    this.connectionParameters = new ConnectionParameters(config)
    this.user = this.connectionParameters.user
    this.database = this.connectionParameters.database
    this.port = this.connectionParameters.port
    this.host = this.connectionParameters.host

    // "hiding" the password so it doesn't show up in stack traces
    // or if the client is console.logged
    Object.defineProperty(this, 'password', {
      configurable: true,
      enumerable: false,
      writable: true,
      value: this.connectionParameters.password,
    })

    this.replication = this.connectionParameters.replication

    const c = config || {}

    if (c.Promise) {
      byoPromiseDeprecationNotice()
    }
    this._Promise = c.Promise || global.Promise
    this._types = new TypeOverrides(c.types)
    this._ending = false
    this._ended = false
    this._connecting = false
    this._connected = false
    this._connectionError = false
    this._queryable = true
    this._activeQuery = null
    this._txStatus = null

    this.enableChannelBinding = Boolean(c.enableChannelBinding) // set true to use SCRAM-SHA-256-PLUS when offered
    this.scramMaxIterations = coerceNumberOrDefault(c.scramMaxIterations, sasl.DEFAULT_MAX_SCRAM_ITERATIONS)
    this.connection =
      c.connection ||
      new Connection({
        stream: c.stream,
        ssl: this.connectionParameters.ssl,
        sslNegotiation: this.connectionParameters.sslnegotiation,
        keepAlive: c.keepAlive || false,
        keepAliveInitialDelayMillis: c.keepAliveInitialDelayMillis || 0,
        encoding: this.connectionParameters.client_encoding || 'utf8',
      })
    this._queryQueue = []
    this._sentQueryQueue = []
    this.pipeline = Boolean(c.pipeline)
    this.binary = c.binary || defaults.binary
    this.processID = null
    this.secretKey = null
    this.ssl = this.connectionParameters.ssl || false
    this.sslNegotiation = this.connectionParameters.sslnegotiation || 'postgres'
    // As with Password, make SSL->Key (the private key) non-enumerable.
    // It won't show up in stack traces
    // or if the client is console.logged
    if (this.ssl && this.ssl.key) {
      Object.defineProperty(this.ssl, 'key', {
        enumerable: false,
      })
    }

    this._connectionTimeoutMillis = c.connectionTimeoutMillis || 0
  }

  get activeQuery() {
    activeQueryDeprecationNotice()
    return this._activeQuery
  }

  set activeQuery(val) {
    activeQueryDeprecationNotice()
    this._activeQuery = val
  }

  _getActiveQuery() {
    return this._activeQuery
  }

  _errorAllQueries(err) {
    const enqueueError = (query) => {
      process.nextTick(() => {
        query.handleError(err, this.connection)
      })
    }

    const activeQuery = this._getActiveQuery()
    if (activeQuery) {
      enqueueError(activeQuery)
      this._activeQuery = null
    }

    this._sentQueryQueue.forEach(enqueueError)
    this._sentQueryQueue.length = 0

    this._queryQueue.forEach(enqueueError)
    this._queryQueue.length = 0
  }

  _connect(callback) {
    const self = this
    const con = this.connection
    this._connectionCallback = callback

    if (this._connecting || this._connected) {
      const err = new Error('Client has already been connected. You cannot reuse a client.')
      process.nextTick(() => {
        callback(err)
      })
      return
    }
    this._connecting = true

    if (this._connectionTimeoutMillis > 0) {
      this.connectionTimeoutHandle = setTimeout(() => {
        con._ending = true
        con.stream.destroy(new Error('timeout expired'))
      }, this._connectionTimeoutMillis)

      if (this.connectionTimeoutHandle.unref) {
        this.connectionTimeoutHandle.unref()
      }
    }

    if (this.host && this.host.indexOf('/') === 0) {
      con.connect(this.host + '/.s.PGSQL.' + this.port)
    } else {
      con.connect(this.port, this.host)
    }

    // once connection is established send startup message
    con.on('connect', function () {
      if (self.ssl) {
        // With direct SSL negotiation the connection upgrades to TLS without an
        // SSLRequest packet, so the startup message is sent after 'sslconnect'.
        if (self.sslNegotiation !== 'direct') {
          con.requestSsl()
        }
      } else {
        con.startup(self.getStartupConf())
      }
    })

    con.on('sslconnect', function () {
      con.startup(self.getStartupConf())
    })

    this._attachListeners(con)

    con.once('end', () => {
      const error = this._ending ? new Error('Connection terminated') : new Error('Connection terminated unexpectedly')

      clearTimeout(this.connectionTimeoutHandle)
      this._errorAllQueries(error)
      this._ended = true

      if (!this._ending) {
        // if the connection is ended without us calling .end()
        // on this client then we have an unexpected disconnection
        // treat this as an error unless we've already emitted an error
        // during connection.
        if (this._connecting && !this._connectionError) {
          if (this._connectionCallback) {
            this._connectionCallback(error)
          } else {
            this._handleErrorEvent(error)
          }
        } else if (!this._connectionError) {
          this._handleErrorEvent(error)
        }
      }

      process.nextTick(() => {
        this.emit('end')
      })
    })
  }

  connect(callback) {
    if (callback) {
      this._connect(callback)
      return
    }

    return new this._Promise((resolve, reject) => {
      this._connect((error) => {
        if (error) {
          reject(error)
        } else {
          resolve(this)
        }
      })
    })
  }

  _attachListeners(con) {
    // password request handling
    con.on('authenticationCleartextPassword', this._handleAuthCleartextPassword.bind(this))
    // password request handling
    con.on('authenticationMD5Password', this._handleAuthMD5Password.bind(this))
    // password request handling (SASL)
    con.on('authenticationSASL', this._handleAuthSASL.bind(this))
    con.on('authenticationSASLContinue', this._handleAuthSASLContinue.bind(this))
    con.on('authenticationSASLFinal', this._handleAuthSASLFinal.bind(this))
    con.on('backendKeyData', this._handleBackendKeyData.bind(this))
    con.on('error', this._handleErrorEvent.bind(this))
    con.on('errorMessage', this._handleErrorMessage.bind(this))
    con.on('readyForQuery', this._handleReadyForQuery.bind(this))
    con.on('notice', this._handleNotice.bind(this))
    con.on('rowDescription', this._handleRowDescription.bind(this))
    con.on('dataRow', this._handleDataRow.bind(this))
    con.on('portalSuspended', this._handlePortalSuspended.bind(this))
    con.on('emptyQuery', this._handleEmptyQuery.bind(this))
    con.on('commandComplete', this._handleCommandComplete.bind(this))
    con.on('parseComplete', this._handleParseComplete.bind(this))
    con.on('copyInResponse', this._handleCopyInResponse.bind(this))
    con.on('copyData', this._handleCopyData.bind(this))
    con.on('notification', this._handleNotification.bind(this))
  }

  _getPassword(cb) {
    const con = this.connection
    if (typeof this.password === 'function') {
      this._Promise
        .resolve()
        .then(() => this.password(this.connectionParameters))
        .then((pass) => {
          if (pass !== undefined) {
            if (typeof pass !== 'string') {
              con.emit('error', new TypeError('Password must be a string'))
              return
            }
            this.connectionParameters.password = this.password = pass
          } else {
            this.connectionParameters.password = this.password = null
          }
          cb()
        })
        .catch((err) => {
          con.emit('error', err)
        })
    } else if (this.password !== null) {
      cb()
    } else {
      try {
        const pgPass = __nccwpck_require__(3272)
        pgPass(this.connectionParameters, (pass) => {
          if (undefined !== pass) {
            pgPassDeprecationNotice()
            this.connectionParameters.password = this.password = pass
          }
          cb()
        })
      } catch (e) {
        this.emit('error', e)
      }
    }
  }

  _handleAuthCleartextPassword(msg) {
    this._getPassword(() => {
      this.connection.password(this.password)
    })
  }

  _handleAuthMD5Password(msg) {
    this._getPassword(async () => {
      try {
        const hashedPassword = await crypto.postgresMd5PasswordHash(this.user, this.password, msg.salt)
        this.connection.password(hashedPassword)
      } catch (e) {
        this.emit('error', e)
      }
    })
  }

  _handleAuthSASL(msg) {
    this._getPassword(() => {
      try {
        this.saslSession = sasl.startSession(
          msg.mechanisms,
          this.enableChannelBinding && this.connection.stream,
          this.scramMaxIterations
        )
        this.connection.sendSASLInitialResponseMessage(this.saslSession.mechanism, this.saslSession.response)
      } catch (err) {
        this.connection.emit('error', err)
      }
    })
  }

  async _handleAuthSASLContinue(msg) {
    try {
      await sasl.continueSession(
        this.saslSession,
        this.password,
        msg.data,
        this.enableChannelBinding && this.connection.stream
      )
      this.connection.sendSCRAMClientFinalMessage(this.saslSession.response)
    } catch (err) {
      this.connection.emit('error', err)
    }
  }

  _handleAuthSASLFinal(msg) {
    try {
      sasl.finalizeSession(this.saslSession, msg.data)
      this.saslSession = null
    } catch (err) {
      this.connection.emit('error', err)
    }
  }

  _handleBackendKeyData(msg) {
    this.processID = msg.processID
    this.secretKey = msg.secretKey
  }

  _handleReadyForQuery(msg) {
    if (this._connecting) {
      this._connecting = false
      this._connected = true
      clearTimeout(this.connectionTimeoutHandle)

      // process possible callback argument to Client#connect
      if (this._connectionCallback) {
        this._connectionCallback(null, this)
        // remove callback for proper error handling
        // after the connect event
        this._connectionCallback = null
      }
      this.emit('connect')
    }
    const activeQuery = this._getActiveQuery()
    this._activeQuery = null
    this._txStatus = msg?.status ?? null
    this.readyForQuery = true
    if (activeQuery) {
      activeQuery.handleReadyForQuery(this.connection)
    }
    this._pulseQueryQueue()
  }

  // if we receive an error event or error message
  // during the connection process we handle it here
  _handleErrorWhileConnecting(err) {
    if (this._connectionError) {
      // TODO(bmc): this is swallowing errors - we shouldn't do this
      return
    }
    this._connectionError = true
    clearTimeout(this.connectionTimeoutHandle)
    if (this._connectionCallback) {
      return this._connectionCallback(err)
    }
    this.emit('error', err)
  }

  // if we're connected and we receive an error event from the connection
  // this means the socket is dead - do a hard abort of all queries and emit
  // the socket error on the client as well
  _handleErrorEvent(err) {
    if (this._connecting) {
      return this._handleErrorWhileConnecting(err)
    }
    this._queryable = false
    this._errorAllQueries(err)
    this.emit('error', err)
  }

  // handle error messages from the postgres backend
  _handleErrorMessage(msg) {
    if (this._connecting) {
      return this._handleErrorWhileConnecting(msg)
    }
    const activeQuery = this._getActiveQuery()

    if (!activeQuery) {
      this._handleErrorEvent(msg)
      return
    }

    this._activeQuery = null
    if (activeQuery.name) {
      delete this.connection.submittedNamedStatements[activeQuery.name]
    }
    activeQuery.handleError(msg, this.connection)
  }

  _handleRowDescription(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected rowDescription message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // delegate rowDescription to active query
    activeQuery.handleRowDescription(msg)
  }

  _handleDataRow(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected dataRow message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // delegate dataRow to active query
    activeQuery.handleDataRow(msg)
  }

  _handlePortalSuspended(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected portalSuspended message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // delegate portalSuspended to active query
    activeQuery.handlePortalSuspended(this.connection)
  }

  _handleEmptyQuery(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected emptyQuery message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // delegate emptyQuery to active query
    activeQuery.handleEmptyQuery(this.connection)
  }

  _handleCommandComplete(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected commandComplete message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // delegate commandComplete to active query
    activeQuery.handleCommandComplete(msg, this.connection)
  }

  _handleParseComplete() {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected parseComplete message from backend.')
      this._handleErrorEvent(error)
      return
    }
    // if a prepared statement has a name and properly parses
    // we track that its already been executed so we don't parse
    // it again on the same client
    if (activeQuery.name) {
      this.connection.parsedStatements[activeQuery.name] = activeQuery.text
      delete this.connection.submittedNamedStatements[activeQuery.name]
    }
  }

  _handleCopyInResponse(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected copyInResponse message from backend.')
      this._handleErrorEvent(error)
      return
    }
    activeQuery.handleCopyInResponse(this.connection)
  }

  _handleCopyData(msg) {
    const activeQuery = this._getActiveQuery()
    if (activeQuery == null) {
      const error = new Error('Received unexpected copyData message from backend.')
      this._handleErrorEvent(error)
      return
    }
    activeQuery.handleCopyData(msg, this.connection)
  }

  _handleNotification(msg) {
    this.emit('notification', msg)
  }

  _handleNotice(msg) {
    this.emit('notice', msg)
  }

  getStartupConf() {
    const params = this.connectionParameters

    const data = {
      user: params.user,
      database: params.database,
    }

    const appName = params.application_name || params.fallback_application_name
    if (appName) {
      data.application_name = appName
    }
    if (params.replication) {
      data.replication = '' + params.replication
    }
    if (params.statement_timeout) {
      data.statement_timeout = String(parseInt(params.statement_timeout, 10))
    }
    if (params.lock_timeout) {
      data.lock_timeout = String(parseInt(params.lock_timeout, 10))
    }
    if (params.idle_in_transaction_session_timeout) {
      data.idle_in_transaction_session_timeout = String(parseInt(params.idle_in_transaction_session_timeout, 10))
    }
    if (params.options) {
      data.options = params.options
    }

    return data
  }

  cancel(client, query) {
    if (client.activeQuery === query) {
      const con = this.connection

      if (this.host && this.host.indexOf('/') === 0) {
        con.connect(this.host + '/.s.PGSQL.' + this.port)
      } else {
        con.connect(this.port, this.host)
      }

      // once connection is established send cancel message
      con.on('connect', function () {
        con.cancel(client.processID, client.secretKey)
      })
    } else if (client._queryQueue.indexOf(query) !== -1) {
      client._queryQueue.splice(client._queryQueue.indexOf(query), 1)
    } else if (client._sentQueryQueue.indexOf(query) !== -1) {
      // Query already sent on wire — can't remove it without corrupting the
      // pipeline. No-op the callback so the result is silently discarded.
      query.callback = () => {}
    }
  }

  setTypeParser(oid, format, parseFn) {
    return this._types.setTypeParser(oid, format, parseFn)
  }

  getTypeParser(oid, format) {
    return this._types.getTypeParser(oid, format)
  }

  // escapeIdentifier and escapeLiteral moved to utility functions & exported
  // on PG
  // re-exported here for backwards compatibility
  escapeIdentifier(str) {
    return utils.escapeIdentifier(str)
  }

  escapeLiteral(str) {
    return utils.escapeLiteral(str)
  }

  _pulseQueryQueue() {
    if (this.pipeline) {
      this._pulsePipelinedQueryQueue()
      return
    }
    if (this.readyForQuery === true) {
      this._activeQuery = this._queryQueue.shift()
      const activeQuery = this._getActiveQuery()
      if (activeQuery) {
        this.readyForQuery = false
        this.hasExecuted = true

        const queryError = activeQuery.submit(this.connection)
        if (queryError) {
          process.nextTick(() => {
            activeQuery.handleError(queryError, this.connection)
            this.readyForQuery = true
            this._pulseQueryQueue()
          })
        }
      } else if (this.hasExecuted) {
        this._activeQuery = null
        this.emit('drain')
      }
    }
  }

  _pulsePipelinedQueryQueue() {
    if (!this._connected || !this._queryable) {
      return
    }
    while (this._queryQueue.length > 0) {
      const query = this._queryQueue.shift()
      this.hasExecuted = true
      const queryError = query.submit(this.connection)
      if (queryError) {
        process.nextTick(() => {
          query.handleError(queryError, this.connection)
        })
        continue
      }
      this._sentQueryQueue.push(query)
    }
    if (this.readyForQuery && !this._activeQuery && this._sentQueryQueue.length > 0) {
      this._activeQuery = this._sentQueryQueue.shift()
      this.readyForQuery = false
    }
    if (!this._activeQuery && this._sentQueryQueue.length === 0 && this._queryQueue.length === 0 && this.hasExecuted) {
      this.emit('drain')
    }
  }

  query(config, values, callback) {
    // can take in strings, config object or query object
    let query
    let result

    if (config == null) {
      throw new TypeError('Client was passed a null or undefined query')
    }

    if (typeof config.submit === 'function') {
      result = query = config
      if (!query.callback) {
        if (typeof values === 'function') {
          query.callback = values
        } else if (callback) {
          query.callback = callback
        }
      }
    } else {
      query = new Query(config, values, callback)
      if (!query.callback) {
        result = new this._Promise((resolve, reject) => {
          query.callback = (err, res) => (err ? reject(err) : resolve(res))
        }).catch((err) => {
          // replace the stack trace that leads to `TCP.onStreamRead` with one that leads back to the
          // application that created the query
          Error.captureStackTrace(err)
          throw err
        })
      } else if (typeof query.callback !== 'function') {
        throw new TypeError('callback is not a function')
      }
    }

    const readTimeout = config.query_timeout || this.connectionParameters.query_timeout
    if (readTimeout) {
      const queryCallback = query.callback || (() => {})

      const readTimeoutTimer = setTimeout(() => {
        const error = new Error('Query read timeout')

        process.nextTick(() => {
          query.handleError(error, this.connection)
        })

        queryCallback(error)

        // we already returned an error,
        // just do nothing if query completes
        query.callback = () => {}

        // Remove from queue (only safe if not yet sent)
        const index = this._queryQueue.indexOf(query)
        if (index > -1) {
          this._queryQueue.splice(index, 1)
        } else if (this.pipeline) {
          // Query already sent — the pipeline is blocked until it completes.
          // Destroy the connection to unblock all remaining pipelined queries.
          this.connection.stream.destroy()
          return
        }

        this._pulseQueryQueue()
      }, readTimeout)

      query.callback = (err, res) => {
        clearTimeout(readTimeoutTimer)
        queryCallback(err, res)
      }
    }

    if (this.binary && !query.binary) {
      query.binary = true
    }

    if (query._result && !query._result._types) {
      query._result._types = this._types
    }

    // A query that keeps a portal open across round trips cannot share a pipelined connection: the
    // queries written behind it are answered out of its portal, so rows land on the wrong query and
    // the reads that follow fail with 'portal does not exist'. Refuse it instead of corrupting.
    if (this.pipeline) {
      const portalQuery =
        typeof config.submit === 'function' && !(query instanceof Query)
          ? 'Custom query classes such as pg-cursor and pg-query-stream are'
          : query.rows
          ? 'The `rows` option is'
          : null
      if (portalQuery) {
        process.nextTick(() => {
          query.handleError(new Error(`${portalQuery} not supported in pipeline mode`), this.connection)
        })
        return result
      }
    }

    if (!this._queryable) {
      process.nextTick(() => {
        query.handleError(new Error('Client has encountered a connection error and is not queryable'), this.connection)
      })
      return result
    }

    if (this._ending) {
      process.nextTick(() => {
        query.handleError(new Error('Client was closed and is not queryable'), this.connection)
      })
      return result
    }

    if (this._queryQueue.length > 0 && !this.pipeline) {
      queryQueueLengthDeprecationNotice()
    }
    this._queryQueue.push(query)
    this._pulseQueryQueue()
    return result
  }

  ref() {
    this.connection.ref()
  }

  unref() {
    this.connection.unref()
  }

  getTransactionStatus() {
    return this._txStatus
  }

  end(cb) {
    this._ending = true

    // if we have never connected, then end is a noop, callback immediately
    if (!this.connection._connecting || this._ended) {
      if (cb) {
        cb()
        return
      } else {
        return this._Promise.resolve()
      }
    }

    if (!this._queryable) {
      // socket is dead — force close
      this.connection.stream.destroy()
    } else if (
      this.pipeline &&
      (this._getActiveQuery() || this._sentQueryQueue.length > 0 || this._queryQueue.length > 0)
    ) {
      // pipelined queries are already on the wire (or queued to send) and will
      // complete normally; wait for drain then do a graceful goodbye
      this.once('drain', () => this.connection.end())
    } else if (this._getActiveQuery()) {
      // non-pipeline: a hung query could block end forever — force disconnect
      this.connection.stream.destroy()
    } else {
      this.connection.end()
    }

    if (cb) {
      this.connection.once('end', cb)
    } else {
      return new this._Promise((resolve) => {
        this.connection.once('end', resolve)
      })
    }
  }
  get queryQueue() {
    queryQueueDeprecationNotice()
    return this._queryQueue
  }
}

// expose a Query constructor
Client.Query = Query

module.exports = Client


/***/ }),

/***/ 646:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const dns = __nccwpck_require__(2250)

const defaults = __nccwpck_require__(8995)

const parse = (__nccwpck_require__(6122).parse) // parses a connection string

const val = function (key, config, envVar) {
  if (config[key]) {
    return config[key]
  }

  if (envVar === undefined) {
    envVar = process.env['PG' + key.toUpperCase()]
  } else if (envVar === false) {
    // do nothing ... use false
  } else {
    envVar = process.env[envVar]
  }

  return envVar || defaults[key]
}

const readSSLConfigFromEnvironment = function () {
  switch (process.env.PGSSLMODE) {
    case 'disable':
      return false
    case 'prefer':
    case 'require':
    case 'verify-ca':
    case 'verify-full':
      return true
    case 'no-verify':
      return { rejectUnauthorized: false }
  }
  return defaults.ssl
}

// Convert arg to a string, surround in single quotes, and escape single quotes and backslashes
const quoteParamValue = function (value) {
  return "'" + ('' + value).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'"
}

const add = function (params, config, paramName) {
  const value = config[paramName]
  if (value !== undefined && value !== null) {
    params.push(paramName + '=' + quoteParamValue(value))
  }
}

class ConnectionParameters {
  constructor(config) {
    // if a string is passed, it is a raw connection string so we parse it into a config
    config = typeof config === 'string' ? parse(config) : config || {}

    // if the config has a connectionString defined, parse IT into the config we use
    // this will override other default values with what is stored in connectionString
    if (config.connectionString) {
      config = Object.assign({}, config, parse(config.connectionString))
    }

    this.user = val('user', config)
    this.database = val('database', config)

    if (this.database === undefined) {
      this.database = this.user
    }

    this.port = parseInt(val('port', config), 10)
    this.host = val('host', config)

    // "hiding" the password so it doesn't show up in stack traces
    // or if the client is console.logged
    Object.defineProperty(this, 'password', {
      configurable: true,
      enumerable: false,
      writable: true,
      value: val('password', config),
    })

    this.binary = val('binary', config)
    this.options = val('options', config)

    this.ssl = typeof config.ssl === 'undefined' ? readSSLConfigFromEnvironment() : config.ssl

    if (typeof this.ssl === 'string') {
      if (this.ssl === 'true') {
        this.ssl = true
      }
    }
    // support passing in ssl=no-verify via connection string
    if (this.ssl === 'no-verify') {
      this.ssl = { rejectUnauthorized: false }
    }
    if (this.ssl && this.ssl.key) {
      Object.defineProperty(this.ssl, 'key', {
        enumerable: false,
      })
    }

    // How to negotiate SSL: 'postgres' (default, the traditional SSLRequest
    // handshake) or 'direct' (start the TLS handshake immediately on connect).
    this.sslnegotiation = val('sslnegotiation', config, 'PGSSLNEGOTIATION')
    if (this.sslnegotiation !== undefined && this.sslnegotiation !== 'postgres' && this.sslnegotiation !== 'direct') {
      throw new Error(
        `Invalid sslnegotiation value: "${this.sslnegotiation}". Valid values are "postgres" and "direct".`
      )
    }
    if (this.sslnegotiation === 'direct' && !this.ssl) {
      throw new Error('sslnegotiation=direct requires SSL to be enabled')
    }

    this.client_encoding = val('client_encoding', config)
    this.replication = val('replication', config)
    // a domain socket begins with '/'
    this.isDomainSocket = !(this.host || '').indexOf('/')

    this.application_name = val('application_name', config, 'PGAPPNAME')
    this.fallback_application_name = val('fallback_application_name', config, false)
    this.statement_timeout = val('statement_timeout', config, false)
    this.lock_timeout = val('lock_timeout', config, false)
    this.idle_in_transaction_session_timeout = val('idle_in_transaction_session_timeout', config, false)
    this.query_timeout = val('query_timeout', config, false)

    if (config.connectionTimeoutMillis === undefined) {
      this.connect_timeout = process.env.PGCONNECT_TIMEOUT || 0
    } else {
      this.connect_timeout = Math.floor(config.connectionTimeoutMillis / 1000)
    }

    if (config.keepAlive === false) {
      this.keepalives = 0
    } else if (config.keepAlive === true) {
      this.keepalives = 1
    }

    if (typeof config.keepAliveInitialDelayMillis === 'number') {
      this.keepalives_idle = Math.floor(config.keepAliveInitialDelayMillis / 1000)
    }
  }

  getLibpqConnectionString(cb) {
    const params = []
    add(params, this, 'user')
    add(params, this, 'password')
    add(params, this, 'port')
    add(params, this, 'application_name')
    add(params, this, 'fallback_application_name')
    add(params, this, 'connect_timeout')
    add(params, this, 'options')

    const ssl = typeof this.ssl === 'object' ? this.ssl : this.ssl ? { sslmode: this.ssl } : {}
    add(params, ssl, 'sslmode')
    add(params, ssl, 'sslca')
    add(params, ssl, 'sslkey')
    add(params, ssl, 'sslcert')
    add(params, ssl, 'sslrootcert')
    add(params, this, 'sslnegotiation')

    if (this.database) {
      params.push('dbname=' + quoteParamValue(this.database))
    }
    if (this.replication) {
      params.push('replication=' + quoteParamValue(this.replication))
    }
    if (this.host) {
      params.push('host=' + quoteParamValue(this.host))
    }
    if (this.isDomainSocket) {
      return cb(null, params.join(' '))
    }
    if (this.client_encoding) {
      params.push('client_encoding=' + quoteParamValue(this.client_encoding))
    }
    dns.lookup(this.host, function (err, address) {
      if (err) return cb(err, null)
      params.push('hostaddr=' + quoteParamValue(address))
      return cb(null, params.join(' '))
    })
  }
}

module.exports = ConnectionParameters


/***/ }),

/***/ 9809:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const EventEmitter = (__nccwpck_require__(4434).EventEmitter)

const { parse, serialize } = __nccwpck_require__(4233)
const stream = __nccwpck_require__(829)
const { getStream } = stream

const flushBuffer = serialize.flush()
const syncBuffer = serialize.sync()
const endBuffer = serialize.end()

// TODO(bmc) support binary mode at some point
class Connection extends EventEmitter {
  constructor(config) {
    super()
    config = config || {}

    this.stream = config.stream || getStream(config.ssl)
    if (typeof this.stream === 'function') {
      this.stream = this.stream(config)
    }

    this._keepAlive = config.keepAlive
    this._keepAliveInitialDelayMillis = config.keepAliveInitialDelayMillis
    this.parsedStatements = {}
    this.submittedNamedStatements = {}
    this.ssl = config.ssl || false
    this.sslNegotiation = config.sslNegotiation || 'postgres'
    this._ending = false
    this._emitMessage = false
    const self = this
    this.on('newListener', function (eventName) {
      if (eventName === 'message') {
        self._emitMessage = true
      }
    })
  }

  connect(port, host) {
    const self = this

    this._connecting = true
    this.stream.setNoDelay(true)
    this.stream.connect(port, host)

    this.stream.once('connect', function () {
      if (self._keepAlive) {
        self.stream.setKeepAlive(true, self._keepAliveInitialDelayMillis)
      }
      self.emit('connect')
    })

    const reportStreamError = function (error) {
      // errors about disconnections should be ignored during disconnect
      if (self._ending && (error.code === 'ECONNRESET' || error.code === 'EPIPE')) {
        return
      }
      self.emit('error', error)
    }
    this.stream.on('error', reportStreamError)

    this.stream.on('close', function () {
      self.emit('end')
    })

    if (!this.ssl) {
      return this.attachListeners(this.stream)
    }

    // With direct SSL negotiation the TLS handshake starts immediately on the
    // raw socket, skipping the SSLRequest packet and the server's 'S'/'N' reply.
    if (this.sslNegotiation === 'direct') {
      return this.stream.once('connect', function () {
        self.upgradeToSSL(host, reportStreamError)
      })
    }

    this.stream.once('data', function (buffer) {
      const responseCode = buffer.toString('utf8')
      switch (responseCode) {
        case 'S': // Server supports SSL connections, continue with a secure connection
          break
        case 'N': // Server does not support SSL connections
          self.stream.end()
          return self.emit('error', new Error('The server does not support SSL connections'))
        default:
          // Any other response byte, including 'E' (ErrorResponse) indicating a server error
          self.stream.end()
          return self.emit('error', new Error('There was an error establishing an SSL connection'))
      }
      self.upgradeToSSL(host, reportStreamError)
    })
  }

  upgradeToSSL(host, reportStreamError) {
    const self = this
    const options = {
      socket: self.stream,
      // tls.connect checks the server identity against `servername`, falling
      // back to `host` and then to 'localhost'. `servername` must stay unset
      // for IP addresses (see below), so `host` is needed to keep certificate
      // validation working when connecting to an IP address.
      host,
    }

    if (self.ssl !== true) {
      Object.assign(options, self.ssl)

      if ('key' in self.ssl) {
        options.key = self.ssl.key
      }
    }

    // Direct SSL negotiation requires ALPN so the server can confirm it is
    // speaking the PostgreSQL protocol over the TLS connection.
    if (self.sslNegotiation === 'direct') {
      options.ALPNProtocols = ['postgresql']
    }

    // SNI must not be set to an IP address (RFC 6066 section 3)
    const net = __nccwpck_require__(9278)
    if (net.isIP && net.isIP(host) === 0) {
      options.servername = host
    }
    try {
      self.stream = stream.getSecureStream(options)
    } catch (err) {
      return self.emit('error', err)
    }
    self.attachListeners(self.stream)
    self.stream.on('error', reportStreamError)

    self.emit('sslconnect')
  }

  attachListeners(stream) {
    parse(stream, (msg) => {
      const eventName = msg.name === 'error' ? 'errorMessage' : msg.name
      if (this._emitMessage) {
        this.emit('message', msg)
      }
      this.emit(eventName, msg)
    })
  }

  requestSsl() {
    this.stream.write(serialize.requestSsl())
  }

  startup(config) {
    this.stream.write(serialize.startup(config))
  }

  cancel(processID, secretKey) {
    this._send(serialize.cancel(processID, secretKey))
  }

  password(password) {
    this._send(serialize.password(password))
  }

  sendSASLInitialResponseMessage(mechanism, initialResponse) {
    this._send(serialize.sendSASLInitialResponseMessage(mechanism, initialResponse))
  }

  sendSCRAMClientFinalMessage(additionalData) {
    this._send(serialize.sendSCRAMClientFinalMessage(additionalData))
  }

  _send(buffer) {
    if (!this.stream.writable) {
      return false
    }
    return this.stream.write(buffer)
  }

  query(text) {
    this._send(serialize.query(text))
  }

  // send parse message
  parse(query) {
    this._send(serialize.parse(query))
  }

  // send bind message
  bind(config) {
    this._send(serialize.bind(config))
  }

  // send execute message
  execute(config) {
    this._send(serialize.execute(config))
  }

  flush() {
    if (this.stream.writable) {
      this.stream.write(flushBuffer)
    }
  }

  sync() {
    // Sync is the extended-query protocol barrier, not a disconnect.
    // Only end()/Terminate (and connect-timeout teardown) should set _ending.
    this._send(syncBuffer)
  }

  ref() {
    this.stream.ref()
  }

  unref() {
    this.stream.unref()
  }

  end() {
    // 0x58 = 'X'
    this._ending = true
    if (!this._connecting || !this.stream.writable) {
      this.stream.end()
      return
    }
    return this.stream.write(endBuffer, () => {
      this.stream.end()
    })
  }

  close(msg) {
    this._send(serialize.close(msg))
  }

  describe(msg) {
    this._send(serialize.describe(msg))
  }

  sendCopyFromChunk(chunk) {
    this._send(serialize.copyData(chunk))
  }

  endCopyFrom() {
    this._send(serialize.copyDone())
  }

  sendCopyFail(msg) {
    this._send(serialize.copyFail(msg))
  }
}

module.exports = Connection


/***/ }),

/***/ 9765:
/***/ ((module) => {

function x509Error(msg, cert) {
  return new Error('SASL channel binding: ' + msg + ' when parsing public certificate ' + cert.toString('base64'))
}

function readASN1Length(data, index) {
  let length = data[index++]
  if (length < 0x80) return { length, index }

  const lengthBytes = length & 0x7f
  if (lengthBytes > 4) throw x509Error('bad length', data)

  length = 0
  for (let i = 0; i < lengthBytes; i++) {
    length = (length << 8) | data[index++]
  }

  return { length, index }
}

function readASN1OID(data, index) {
  if (data[index++] !== 0x6) throw x509Error('non-OID data', data) // 6 = OID

  const { length: OIDLength, index: indexAfterOIDLength } = readASN1Length(data, index)
  index = indexAfterOIDLength
  const lastIndex = index + OIDLength

  const byte1 = data[index++]
  let oid = ((byte1 / 40) >> 0) + '.' + (byte1 % 40)

  while (index < lastIndex) {
    // loop over numbers in OID
    let value = 0
    while (index < lastIndex) {
      // loop over bytes in number
      const nextByte = data[index++]
      value = (value << 7) | (nextByte & 0x7f)
      if (nextByte < 0x80) break
    }
    oid += '.' + value
  }

  return { oid, index }
}

function expectASN1Seq(data, index) {
  if (data[index++] !== 0x30) throw x509Error('non-sequence data', data) // 30 = Sequence
  return readASN1Length(data, index)
}

function signatureAlgorithmHashFromCertificate(data, index) {
  // read this thread: https://www.postgresql.org/message-id/17760-b6c61e752ec07060%40postgresql.org
  if (index === undefined) index = 0
  index = expectASN1Seq(data, index).index
  const { length: certInfoLength, index: indexAfterCertInfoLength } = expectASN1Seq(data, index)
  index = indexAfterCertInfoLength + certInfoLength // skip over certificate info
  index = expectASN1Seq(data, index).index // skip over signature length field
  const { oid, index: indexAfterOID } = readASN1OID(data, index)
  switch (oid) {
    // RSA
    case '1.2.840.113549.1.1.4':
      return 'MD5'
    case '1.2.840.113549.1.1.5':
      return 'SHA-1'
    case '1.2.840.113549.1.1.11':
      return 'SHA-256'
    case '1.2.840.113549.1.1.12':
      return 'SHA-384'
    case '1.2.840.113549.1.1.13':
      return 'SHA-512'
    case '1.2.840.113549.1.1.14':
      return 'SHA-224'
    case '1.2.840.113549.1.1.15':
      return 'SHA512-224'
    case '1.2.840.113549.1.1.16':
      return 'SHA512-256'
    // ECDSA
    case '1.2.840.10045.4.1':
      return 'SHA-1'
    case '1.2.840.10045.4.3.1':
      return 'SHA-224'
    case '1.2.840.10045.4.3.2':
      return 'SHA-256'
    case '1.2.840.10045.4.3.3':
      return 'SHA-384'
    case '1.2.840.10045.4.3.4':
      return 'SHA-512'
    // RSASSA-PSS: hash is indicated separately
    case '1.2.840.113549.1.1.10': {
      index = indexAfterOID
      index = expectASN1Seq(data, index).index
      if (data[index++] !== 0xa0) throw x509Error('non-tag data', data) // a0 = constructed tag 0
      index = readASN1Length(data, index).index // skip over tag length field
      index = expectASN1Seq(data, index).index // skip over sequence length field
      const { oid: hashOID } = readASN1OID(data, index)
      switch (hashOID) {
        // standalone hash OIDs
        case '1.2.840.113549.2.5':
          return 'MD5'
        case '1.3.14.3.2.26':
          return 'SHA-1'
        case '2.16.840.1.101.3.4.2.1':
          return 'SHA-256'
        case '2.16.840.1.101.3.4.2.2':
          return 'SHA-384'
        case '2.16.840.1.101.3.4.2.3':
          return 'SHA-512'
      }
      throw x509Error('unknown hash OID ' + hashOID, data)
    }
    // Ed25519 -- see https://github.com/openssl/openssl/issues/15477
    case '1.3.101.110':
    case '1.3.101.112': // ph
      return 'SHA-512'
    // Ed448 -- still not in pg 17.2 (if supported, digest would be SHAKE256 x 64 bytes)
    case '1.3.101.111':
    case '1.3.101.113': // ph
      throw x509Error('Ed448 certificate channel binding is not currently supported by Postgres')
  }
  throw x509Error('unknown OID ' + oid, data)
}

module.exports = { signatureAlgorithmHashFromCertificate }


/***/ }),

/***/ 948:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {


const crypto = __nccwpck_require__(4150)
const { signatureAlgorithmHashFromCertificate } = __nccwpck_require__(9765)

// SASLprep (RFC 4013) — minimal in-tree implementation.
//
// Per RFC 5802 §2.2, the SCRAM-SHA-256 client must normalize the password via
// SASLprep before feeding it into PBKDF2. PostgreSQL's server applies the same
// SASLprep when computing the stored verifier, and libpq does the same client
// side, so passwords whose NFKC form differs from the raw form
// would otherwise authenticate against psql/libpq but fail against pg with `28P01`.
//
// We deliberately implement only the three steps that change the byte content:
//   1. RFC 3454 Table C.1.2 (non-ASCII space) → U+0020 SPACE.
//   2. RFC 3454 Table B.1 (commonly mapped to nothing) → empty.
//   3. NFKC normalization.
// We skip the prohibition (RFC 4013 §2.3) and bidi (RFC 3454 §6) checks.
// libpq is forgiving on those paths and Postgres's own SASLprep matches that
// leniency for legacy roles, so omitting the rejection logic keeps existing
// roles working without adding complexity.
function saslprep(password) {
  // RFC 3454 Table C.1.2 — non-ASCII space characters, mapped to U+0020.
  const nonAsciiSpace = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g
  // RFC 3454 Table B.1 — "commonly mapped to nothing". The set intentionally
  // contains zero-width joiners and variation selectors — the very characters
  // ESLint's no-misleading-character-class warns about — because they combine
  // with their neighbors and the RFC strips them for that reason.
  // eslint-disable-next-line no-misleading-character-class
  const mappedToNothing = /[\u00AD\u034F\u1806\u180B\u180C\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g
  return password.replace(nonAsciiSpace, ' ').replace(mappedToNothing, '').normalize('NFKC')
}

const DEFAULT_MAX_SCRAM_ITERATIONS = 100000

function startSession(mechanisms, stream, scramMaxIterations = DEFAULT_MAX_SCRAM_ITERATIONS) {
  const candidates = ['SCRAM-SHA-256']
  if (stream) candidates.unshift('SCRAM-SHA-256-PLUS') // higher-priority, so placed first

  const mechanism = candidates.find((candidate) => mechanisms.includes(candidate))

  if (!mechanism) {
    throw new Error('SASL: Only mechanism(s) ' + candidates.join(' and ') + ' are supported')
  }

  if (mechanism === 'SCRAM-SHA-256-PLUS' && typeof stream.getPeerCertificate !== 'function') {
    // this should never happen if we are really talking to a Postgres server
    throw new Error('SASL: Mechanism SCRAM-SHA-256-PLUS requires a certificate')
  }

  const clientNonce = crypto.randomBytes(18).toString('base64')
  const gs2Header = mechanism === 'SCRAM-SHA-256-PLUS' ? 'p=tls-server-end-point' : stream ? 'y' : 'n'

  return {
    mechanism,
    clientNonce,
    response: gs2Header + ',,n=*,r=' + clientNonce,
    message: 'SASLInitialResponse',
    scramMaxIterations,
  }
}

async function continueSession(session, password, serverData, stream) {
  if (session.message !== 'SASLInitialResponse') {
    throw new Error('SASL: Last message was not SASLInitialResponse')
  }
  if (typeof password !== 'string') {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string')
  }
  if (password === '') {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a non-empty string')
  }
  if (typeof serverData !== 'string') {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: serverData must be a string')
  }

  const sv = parseServerFirstMessage(serverData)

  if (!sv.nonce.startsWith(session.clientNonce)) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: server nonce does not start with client nonce')
  } else if (sv.nonce.length === session.clientNonce.length) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: server nonce is too short')
  }

  const scramMaxIterations =
    typeof session.scramMaxIterations === 'number' ? session.scramMaxIterations : DEFAULT_MAX_SCRAM_ITERATIONS
  // a value of 0 disables the iteration count check
  if (scramMaxIterations !== 0 && sv.iteration > scramMaxIterations) {
    throw new Error(
      'SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration count ' +
        sv.iteration +
        ' exceeds scramMaxIterations of ' +
        scramMaxIterations
    )
  }

  const clientFirstMessageBare = 'n=*,r=' + session.clientNonce
  const serverFirstMessage = 'r=' + sv.nonce + ',s=' + sv.salt + ',i=' + sv.iteration

  // without channel binding:
  let channelBinding = stream ? 'eSws' : 'biws' // 'y,,' or 'n,,', base64-encoded

  // override if channel binding is in use:
  if (session.mechanism === 'SCRAM-SHA-256-PLUS') {
    const peerCert = stream.getPeerCertificate().raw
    let hashName = signatureAlgorithmHashFromCertificate(peerCert)
    if (hashName === 'MD5' || hashName === 'SHA-1') hashName = 'SHA-256'
    const certHash = await crypto.hashByName(hashName, peerCert)
    const bindingData = Buffer.concat([Buffer.from('p=tls-server-end-point,,'), Buffer.from(certHash)])
    channelBinding = bindingData.toString('base64')
  }

  const clientFinalMessageWithoutProof = 'c=' + channelBinding + ',r=' + sv.nonce
  const authMessage = clientFirstMessageBare + ',' + serverFirstMessage + ',' + clientFinalMessageWithoutProof

  const saltBytes = Buffer.from(sv.salt, 'base64')
  const saltedPassword = await crypto.deriveKey(saslprep(password), saltBytes, sv.iteration)
  const clientKey = await crypto.hmacSha256(saltedPassword, 'Client Key')
  const storedKey = await crypto.sha256(clientKey)
  const clientSignature = await crypto.hmacSha256(storedKey, authMessage)
  const clientProof = xorBuffers(Buffer.from(clientKey), Buffer.from(clientSignature)).toString('base64')
  const serverKey = await crypto.hmacSha256(saltedPassword, 'Server Key')
  const serverSignatureBytes = await crypto.hmacSha256(serverKey, authMessage)

  session.message = 'SASLResponse'
  session.serverSignature = Buffer.from(serverSignatureBytes).toString('base64')
  session.response = clientFinalMessageWithoutProof + ',p=' + clientProof
}

function finalizeSession(session, serverData) {
  if (session.message !== 'SASLResponse') {
    throw new Error('SASL: Last message was not SASLResponse')
  }
  if (typeof serverData !== 'string') {
    throw new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: serverData must be a string')
  }

  const { serverSignature } = parseServerFinalMessage(serverData)

  if (serverSignature !== session.serverSignature) {
    throw new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature does not match')
  }
}

/**
 * printable       = %x21-2B / %x2D-7E
 *                   ;; Printable ASCII except ",".
 *                   ;; Note that any "printable" is also
 *                   ;; a valid "value".
 */
function isPrintableChars(text) {
  if (typeof text !== 'string') {
    throw new TypeError('SASL: text must be a string')
  }
  return text
    .split('')
    .map((_, i) => text.charCodeAt(i))
    .every((c) => (c >= 0x21 && c <= 0x2b) || (c >= 0x2d && c <= 0x7e))
}

/**
 * base64-char     = ALPHA / DIGIT / "/" / "+"
 *
 * base64-4        = 4base64-char
 *
 * base64-3        = 3base64-char "="
 *
 * base64-2        = 2base64-char "=="
 *
 * base64          = *base64-4 [base64-3 / base64-2]
 */
function isBase64(text) {
  return /^(?:[a-zA-Z0-9+/]{4})*(?:[a-zA-Z0-9+/]{2}==|[a-zA-Z0-9+/]{3}=)?$/.test(text)
}

function parseAttributePairs(text) {
  if (typeof text !== 'string') {
    throw new TypeError('SASL: attribute pairs text must be a string')
  }

  return new Map(
    text.split(',').map((attrValue) => {
      if (!/^.=/.test(attrValue)) {
        throw new Error('SASL: Invalid attribute pair entry')
      }
      const name = attrValue[0]
      const value = attrValue.substring(2)
      return [name, value]
    })
  )
}

function parseServerFirstMessage(data) {
  const attrPairs = parseAttributePairs(data)

  const nonce = attrPairs.get('r')
  if (!nonce) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: nonce missing')
  } else if (!isPrintableChars(nonce)) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: nonce must only contain printable characters')
  }
  const salt = attrPairs.get('s')
  if (!salt) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: salt missing')
  } else if (!isBase64(salt)) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: salt must be base64')
  }
  const iterationText = attrPairs.get('i')
  if (!iterationText) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: iteration missing')
  } else if (!/^[1-9][0-9]*$/.test(iterationText)) {
    throw new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: invalid iteration count')
  }
  const iteration = parseInt(iterationText, 10)

  return {
    nonce,
    salt,
    iteration,
  }
}

function parseServerFinalMessage(serverData) {
  const attrPairs = parseAttributePairs(serverData)
  const error = attrPairs.get('e')
  const serverSignature = attrPairs.get('v')

  if (error) {
    throw new Error(`SASL: SCRAM-SERVER-FINAL-MESSAGE: server returned error: "${error}"`)
  }

  if (!serverSignature) {
    throw new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature is missing')
  } else if (!isBase64(serverSignature)) {
    throw new Error('SASL: SCRAM-SERVER-FINAL-MESSAGE: server signature must be base64')
  }
  return {
    serverSignature,
  }
}

function xorBuffers(a, b) {
  if (!Buffer.isBuffer(a)) {
    throw new TypeError('first argument must be a Buffer')
  }
  if (!Buffer.isBuffer(b)) {
    throw new TypeError('second argument must be a Buffer')
  }
  if (a.length !== b.length) {
    throw new Error('Buffer lengths must match')
  }
  if (a.length === 0) {
    throw new Error('Buffers cannot be empty')
  }
  return Buffer.from(a.map((_, i) => a[i] ^ b[i]))
}

module.exports = {
  startSession,
  continueSession,
  finalizeSession,
  DEFAULT_MAX_SCRAM_ITERATIONS,
}


/***/ }),

/***/ 4150:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const nodeCrypto = __nccwpck_require__(6982)

module.exports = {
  postgresMd5PasswordHash,
  randomBytes,
  deriveKey,
  sha256,
  hashByName,
  hmacSha256,
  md5,
}

/**
 * The Web Crypto API - grabbed from the Node.js library or the global
 * @type Crypto
 */
// eslint-disable-next-line no-undef
const webCrypto = nodeCrypto.webcrypto || globalThis.crypto
/**
 * The SubtleCrypto API for low level crypto operations.
 * @type SubtleCrypto
 */
const subtleCrypto = webCrypto.subtle
const textEncoder = new TextEncoder()

/**
 *
 * @param {*} length
 * @returns
 */
function randomBytes(length) {
  return webCrypto.getRandomValues(Buffer.alloc(length))
}

async function md5(string) {
  try {
    return nodeCrypto.createHash('md5').update(string, 'utf-8').digest('hex')
  } catch (e) {
    // `createHash()` failed so we are probably not in Node.js, use the WebCrypto API instead.
    // Note that the MD5 algorithm on WebCrypto is not available in Node.js.
    // This is why we cannot just use WebCrypto in all environments.
    const data = typeof string === 'string' ? textEncoder.encode(string) : string
    const hash = await subtleCrypto.digest('MD5', data)
    return Array.from(new Uint8Array(hash))
      .map((b) => b.toString(16).padStart(2, '0'))
      .join('')
  }
}

// See AuthenticationMD5Password at https://www.postgresql.org/docs/current/static/protocol-flow.html
async function postgresMd5PasswordHash(user, password, salt) {
  const inner = await md5(password + user)
  const outer = await md5(Buffer.concat([Buffer.from(inner), salt]))
  return 'md5' + outer
}

/**
 * Create a SHA-256 digest of the given data
 * @param {Buffer} data
 */
async function sha256(text) {
  return await subtleCrypto.digest('SHA-256', text)
}

async function hashByName(hashName, text) {
  return await subtleCrypto.digest(hashName, text)
}

/**
 * Sign the message with the given key
 * @param {ArrayBuffer} keyBuffer
 * @param {string} msg
 */
async function hmacSha256(keyBuffer, msg) {
  const key = await subtleCrypto.importKey('raw', keyBuffer, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  return await subtleCrypto.sign('HMAC', key, textEncoder.encode(msg))
}

/**
 * Derive a key from the password and salt
 * @param {string} password
 * @param {Uint8Array} salt
 * @param {number} iterations
 */
async function deriveKey(password, salt, iterations) {
  const key = await subtleCrypto.importKey('raw', textEncoder.encode(password), 'PBKDF2', false, ['deriveBits'])
  const params = { name: 'PBKDF2', hash: 'SHA-256', salt: salt, iterations: iterations }
  return await subtleCrypto.deriveBits(params, key, 32 * 8, ['deriveBits'])
}


/***/ }),

/***/ 8995:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



let user
try {
  user = process.platform === 'win32' ? process.env.USERNAME : process.env.USER
} catch {
  // ignore, e.g., Deno without --allow-env
}

module.exports = {
  // database host. defaults to localhost
  host: 'localhost',

  // database user's name
  user,

  // name of database to connect
  database: undefined,

  // database user's password
  password: null,

  // a Postgres connection string to be used instead of setting individual connection items
  // NOTE:  Setting this value will cause it to override any other value (such as database or user) defined
  // in the defaults object.
  connectionString: undefined,

  // database port
  port: 5432,

  // number of rows to return at a time from a prepared statement's
  // portal. 0 will return all rows at once
  rows: 0,

  // binary result mode
  binary: false,

  // Connection pool options - see https://github.com/brianc/node-pg-pool

  // number of connections to use in connection pool
  // 0 will disable connection pooling
  max: 10,

  // max milliseconds a client can go unused before it is removed
  // from the pool and destroyed
  idleTimeoutMillis: 30000,

  client_encoding: '',

  ssl: false,

  // SSL negotiation style: 'postgres' (traditional SSLRequest) or 'direct'
  sslnegotiation: undefined,

  application_name: undefined,

  fallback_application_name: undefined,

  options: undefined,

  parseInputDatesAsUTC: false,

  // max milliseconds any query using this connection will execute for before timing out in error.
  // false=unlimited
  statement_timeout: false,

  // Abort any statement that waits longer than the specified duration in milliseconds while attempting to acquire a lock.
  // false=unlimited
  lock_timeout: false,

  // Terminate any session with an open transaction that has been idle for longer than the specified duration in milliseconds
  // false=unlimited
  idle_in_transaction_session_timeout: false,

  // max milliseconds to wait for query to complete (client side)
  query_timeout: false,

  connect_timeout: 0,

  keepalives: 1,

  keepalives_idle: 0,
}

const pgTypes = __nccwpck_require__(1549)
// save default parsers
const parseBigInteger = pgTypes.getTypeParser(20, 'text')
const parseBigIntegerArray = pgTypes.getTypeParser(1016, 'text')

// parse int8 so you can get your count values as actual numbers
module.exports.__defineSetter__('parseInt8', function (val) {
  pgTypes.setTypeParser(20, 'text', val ? pgTypes.getTypeParser(23, 'text') : parseBigInteger)
  pgTypes.setTypeParser(1016, 'text', val ? pgTypes.getTypeParser(1007, 'text') : parseBigIntegerArray)
})


/***/ }),

/***/ 3273:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const Client = __nccwpck_require__(5042)
const defaults = __nccwpck_require__(8995)
const Connection = __nccwpck_require__(9809)
const Result = __nccwpck_require__(6424)
const utils = __nccwpck_require__(9652)
const Pool = __nccwpck_require__(7558)
const TypeOverrides = __nccwpck_require__(365)
const { DatabaseError } = __nccwpck_require__(4233)
const { escapeIdentifier, escapeLiteral } = __nccwpck_require__(9652)

const poolFactory = (Client) => {
  return class BoundPool extends Pool {
    constructor(options) {
      super(options, Client)
    }
  }
}

const PG = function (clientConstructor) {
  this.defaults = defaults
  this.Client = clientConstructor
  this.Query = this.Client.Query
  this.Pool = poolFactory(this.Client)
  this._pools = []
  this.Connection = Connection
  this.types = __nccwpck_require__(1549)
  this.DatabaseError = DatabaseError
  this.TypeOverrides = TypeOverrides
  this.escapeIdentifier = escapeIdentifier
  this.escapeLiteral = escapeLiteral
  this.Result = Result
  this.utils = utils
}

let clientConstructor = Client

let forceNative = false
try {
  forceNative = !!process.env.NODE_PG_FORCE_NATIVE
} catch {
  // ignore, e.g., Deno without --allow-env
}

if (forceNative) {
  clientConstructor = __nccwpck_require__(5301)
}

module.exports = new PG(clientConstructor)

// lazy require native module...the native module may not have installed
Object.defineProperty(module.exports, "native", ({
  configurable: true,
  enumerable: false,
  get() {
    let native = null
    try {
      native = new PG(__nccwpck_require__(5301))
    } catch (err) {
      if (err.code !== 'MODULE_NOT_FOUND') {
        throw err
      }
    }

    // overwrite module.exports.native so that getter is never called again
    Object.defineProperty(module.exports, "native", ({
      value: native,
    }))

    return native
  },
}))


/***/ }),

/***/ 8942:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const nodeUtils = __nccwpck_require__(9023)
// eslint-disable-next-line
var Native
// eslint-disable-next-line no-useless-catch
try {
  // Wrap this `require()` in a try-catch to avoid upstream bundlers from complaining that this might not be available since it is an optional import
  Native = __nccwpck_require__(4390)
} catch (e) {
  throw e
}
const TypeOverrides = __nccwpck_require__(365)
const EventEmitter = (__nccwpck_require__(4434).EventEmitter)
const util = __nccwpck_require__(9023)
const ConnectionParameters = __nccwpck_require__(646)

const NativeQuery = __nccwpck_require__(7581)

const queryQueueLengthDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Calling client.query() when the client is already executing a query is deprecated and will be removed in pg@9.0. Use async/await or an external async flow control mechanism instead.'
)

const Client = (module.exports = function (config) {
  EventEmitter.call(this)
  config = config || {}

  this._Promise = config.Promise || global.Promise
  this._types = new TypeOverrides(config.types)

  this.native = new Native({
    types: this._types,
  })

  this._queryQueue = []
  this._ending = false
  this._connecting = false
  this._connected = false
  this._queryable = true
  this.pipeline = Boolean(config.pipeline)
  this._pipelineInFlight = false

  // keep these on the object for legacy reasons
  // for the time being. TODO: deprecate all this jazz
  const cp = (this.connectionParameters = new ConnectionParameters(config))
  if (config.nativeConnectionString) cp.nativeConnectionString = config.nativeConnectionString
  this.user = cp.user

  // "hiding" the password so it doesn't show up in stack traces
  // or if the client is console.logged
  Object.defineProperty(this, 'password', {
    configurable: true,
    enumerable: false,
    writable: true,
    value: cp.password,
  })
  this.database = cp.database
  this.host = cp.host
  this.port = cp.port

  // a hash to hold named queries
  this.namedQueries = {}
})

Client.Query = NativeQuery

util.inherits(Client, EventEmitter)

Client.prototype._errorAllQueries = function (err) {
  const enqueueError = (query) => {
    process.nextTick(() => {
      query.native = this.native
      query.handleError(err)
    })
  }

  if (this._hasActiveQuery()) {
    enqueueError(this._activeQuery)
    this._activeQuery = null
  }

  this._queryQueue.forEach(enqueueError)
  this._queryQueue.length = 0
}

// connect to the backend
// pass an optional callback to be called once connected
// or with an error if there was a connection error
Client.prototype._connect = function (cb) {
  const self = this

  if (this._connecting) {
    process.nextTick(() => cb(new Error('Client has already been connected. You cannot reuse a client.')))
    return
  }

  this._connecting = true

  this.connectionParameters.getLibpqConnectionString(function (err, conString) {
    if (self.connectionParameters.nativeConnectionString) conString = self.connectionParameters.nativeConnectionString
    if (err) return cb(err)
    self.native.connect(conString, function (err) {
      if (err) {
        self.native.end()
        return cb(err)
      }

      // set internal states to connected
      self._connected = true

      // handle connection errors from the native layer
      self.native.on('error', function (err) {
        self._queryable = false
        self._errorAllQueries(err)
        self.emit('error', err)
      })

      self.native.on('notification', function (msg) {
        self.emit('notification', {
          channel: msg.relname,
          payload: msg.extra,
        })
      })

      // signal we are connected now
      self.emit('connect')
      self._pulseQueryQueue(true)

      cb(null, this)
    })
  })
}

Client.prototype.connect = function (callback) {
  if (callback) {
    this._connect(callback)
    return
  }

  return new this._Promise((resolve, reject) => {
    this._connect((error) => {
      if (error) {
        reject(error)
      } else {
        resolve(this)
      }
    })
  })
}

// send a query to the server
// this method is highly overloaded to take
// 1) string query, optional array of parameters, optional function callback
// 2) object query with {
//    string query
//    optional array values,
//    optional function callback instead of as a separate parameter
//    optional string name to name & cache the query plan
//    optional string rowMode = 'array' for an array of results
//  }
Client.prototype.query = function (config, values, callback) {
  let query
  let result
  let readTimeout
  let readTimeoutTimer
  let queryCallback

  if (config === null || config === undefined) {
    throw new TypeError('Client was passed a null or undefined query')
  } else if (typeof config.submit === 'function') {
    readTimeout = config.query_timeout || this.connectionParameters.query_timeout
    result = query = config
    // accept query(new Query(...), (err, res) => { }) style
    if (typeof values === 'function') {
      config.callback = values
    }
  } else {
    readTimeout = config.query_timeout || this.connectionParameters.query_timeout
    query = new NativeQuery(config, values, callback)
    if (!query.callback) {
      let resolveOut, rejectOut
      result = new this._Promise((resolve, reject) => {
        resolveOut = resolve
        rejectOut = reject
      }).catch((err) => {
        Error.captureStackTrace(err)
        throw err
      })
      query.callback = (err, res) => (err ? rejectOut(err) : resolveOut(res))
    }
  }

  if (readTimeout) {
    queryCallback = query.callback || (() => {})

    readTimeoutTimer = setTimeout(() => {
      const error = new Error('Query read timeout')

      process.nextTick(() => {
        query.handleError(error, this.connection)
      })

      queryCallback(error)

      // we already returned an error,
      // just do nothing if query completes
      query.callback = () => {}

      // Remove from queue
      const index = this._queryQueue.indexOf(query)
      if (index > -1) {
        this._queryQueue.splice(index, 1)
      }

      this._pulseQueryQueue()
    }, readTimeout)

    query.callback = (err, res) => {
      clearTimeout(readTimeoutTimer)
      queryCallback(err, res)
    }
  }

  if (!this._queryable) {
    query.native = this.native
    process.nextTick(() => {
      query.handleError(new Error('Client has encountered a connection error and is not queryable'))
    })
    return result
  }

  if (this._ending) {
    query.native = this.native
    process.nextTick(() => {
      query.handleError(new Error('Client was closed and is not queryable'))
    })
    return result
  }

  if (this._queryQueue.length > 0 && !this.pipeline) {
    queryQueueLengthDeprecationNotice()
  }

  this._queryQueue.push(query)
  this._pulseQueryQueue()
  return result
}

// disconnect from the backend server
Client.prototype.end = function (cb) {
  const self = this

  this._ending = true

  if (this._connecting && !this._connected) {
    this.once('connect', () => {
      this.end(() => {})
    })
  }
  let result
  if (!cb) {
    result = new this._Promise(function (resolve, reject) {
      cb = (err) => (err ? reject(err) : resolve())
    })
  }

  const doEnd = function () {
    self.native.end(function () {
      self._connected = false

      self._errorAllQueries(new Error('Connection terminated'))

      process.nextTick(() => {
        self.emit('end')
        if (cb) cb()
      })
    })
  }

  // If pipeline has in-flight or queued queries, wait for them to drain before closing
  if (this.pipeline && (this._pipelineInFlight || this._queryQueue.length > 0)) {
    this.once('drain', doEnd)
  } else {
    doEnd()
  }
  return result
}

Client.prototype._hasActiveQuery = function () {
  return this._activeQuery && this._activeQuery.state !== 'error' && this._activeQuery.state !== 'end'
}

Client.prototype._pulseQueryQueue = function (initialConnection) {
  if (!this._connected) {
    return
  }
  if (this.pipeline && !initialConnection) {
    return this._pulsePipelinedQueryQueue()
  }
  if (this._hasActiveQuery()) {
    return
  }
  const query = this._queryQueue.shift()
  if (!query) {
    if (!initialConnection) {
      this.emit('drain')
    }
    return
  }
  this._activeQuery = query
  query.submit(this)
  const self = this
  query.once('_done', function () {
    self._pulseQueryQueue()
  })
}

Client.prototype._pulsePipelinedQueryQueue = function () {
  if (!this._connected || this._pipelineInFlight) {
    return
  }
  if (this._queryQueue.length === 0) {
    if (this.hasExecuted) {
      this.emit('drain')
    }
    return
  }

  this._pipelineInFlight = true
  const self = this
  const queries = []
  const nativeQueries = []
  const utils = __nccwpck_require__(9652)

  while (this._queryQueue.length > 0) {
    const query = this._queryQueue.shift()
    this.hasExecuted = true
    nativeQueries.push(query)

    const values = query.values ? query.values.map(utils.prepareValue) : null
    const pipelineEntry = { text: query.text, name: query.name, arrayMode: query._arrayMode }
    if (values) {
      pipelineEntry.values = values
    }
    if (query.name && this.namedQueries[query.name]) {
      pipelineEntry._alreadyPrepared = true
    }
    queries.push(pipelineEntry)
  }

  this.native.pipeline(queries, function (err, results) {
    self._pipelineInFlight = false

    if (err) {
      // Total pipeline failure. Per-query errors arrive on results[i].err, so reaching here means
      // the connection itself is gone: mark it unusable and say so, the way the JS client and the
      // non-pipelined native path both do. Without this the client looks healthy after losing its
      // backend, a Pool never discards it, and everything routed to it fails one query at a time
      // for the life of the process.
      self._connected = false
      self._queryable = false
      for (let i = 0; i < nativeQueries.length; i++) {
        const q = nativeQueries[i]
        q.native = self.native
        q.handleError(err)
      }
      self._errorAllQueries(err)
      self.emit('error', err)
      self.emit('end')
      return
    }

    // Deliver results to each query
    for (let i = 0; i < nativeQueries.length; i++) {
      const q = nativeQueries[i]
      const r = results[i]
      q.native = self.native

      if (r.err) {
        q.handleError(r.err)
      } else {
        // Track named queries on success
        if (q.name) {
          self.namedQueries[q.name] = q.text
        }
        q.state = 'end'
        q.emit('end', r.result)
        if (q.callback) {
          q.callback(null, r.result)
        }
      }

      setImmediate(function () {
        q.emit('_done')
      })
    }

    // Process any queries that arrived while we were reading
    self._pulsePipelinedQueryQueue()
  })
}

// attempt to cancel an in-progress query
Client.prototype.cancel = function (query) {
  if (this._activeQuery === query) {
    this.native.cancel(function () {})
  } else if (this._queryQueue.indexOf(query) !== -1) {
    this._queryQueue.splice(this._queryQueue.indexOf(query), 1)
  }
}

Client.prototype.ref = function () {}
Client.prototype.unref = function () {}

Client.prototype.setTypeParser = function (oid, format, parseFn) {
  return this._types.setTypeParser(oid, format, parseFn)
}

Client.prototype.getTypeParser = function (oid, format) {
  return this._types.getTypeParser(oid, format)
}

Client.prototype.isConnected = function () {
  return this._connected
}

Client.prototype.getTransactionStatus = function () {
  return this.native.getTransactionStatus()
}


/***/ }),

/***/ 5301:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {


module.exports = __nccwpck_require__(8942)


/***/ }),

/***/ 7581:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const EventEmitter = (__nccwpck_require__(4434).EventEmitter)
const util = __nccwpck_require__(9023)
const utils = __nccwpck_require__(9652)

const NativeQuery = (module.exports = function (config, values, callback) {
  EventEmitter.call(this)
  config = utils.normalizeQueryConfig(config, values, callback)
  this.text = config.text
  this.values = config.values
  this.name = config.name
  this.queryMode = config.queryMode
  this.callback = config.callback
  this.state = 'new'
  this._arrayMode = config.rowMode === 'array'

  // if the 'row' event is listened for
  // then emit them as they come in
  // without setting singleRowMode to true
  // this has almost no meaning because libpq
  // reads all rows into memory before returning any
  this._emitRowEvents = false
  this.on(
    'newListener',
    function (event) {
      if (event === 'row') this._emitRowEvents = true
    }.bind(this)
  )
})

util.inherits(NativeQuery, EventEmitter)

const errorFieldMap = {
  sqlState: 'code',
  statementPosition: 'position',
  messagePrimary: 'message',
  messageDetail: 'detail',
  messageHint: 'hint',
  context: 'where',
  schemaName: 'schema',
  tableName: 'table',
  columnName: 'column',
  dataTypeName: 'dataType',
  constraintName: 'constraint',
  sourceFile: 'file',
  sourceLine: 'line',
  sourceFunction: 'routine',
}

NativeQuery.prototype.handleError = function (err) {
  // copy pq error fields into the error object
  const fields = this.native && this.native.pq.resultErrorFields()
  if (fields) {
    for (const key in fields) {
      const normalizedFieldName = errorFieldMap[key] || key
      err[normalizedFieldName] = fields[key]
    }
  }
  if (this.callback) {
    this.callback(err)
  } else {
    this.emit('error', err)
  }
  this.state = 'error'
}

NativeQuery.prototype.then = function (onSuccess, onFailure) {
  return this._getPromise().then(onSuccess, onFailure)
}

NativeQuery.prototype.catch = function (callback) {
  return this._getPromise().catch(callback)
}

NativeQuery.prototype._getPromise = function () {
  if (this._promise) return this._promise
  this._promise = new Promise(
    function (resolve, reject) {
      this._once('end', resolve)
      this._once('error', reject)
    }.bind(this)
  )
  return this._promise
}

NativeQuery.prototype.submit = function (client) {
  this.state = 'running'
  const self = this
  this.native = client.native
  client.native.arrayMode = this._arrayMode

  let after = function (err, rows, results) {
    client.native.arrayMode = false
    setImmediate(function () {
      self.emit('_done')
    })

    // handle possible query error
    if (err) {
      return self.handleError(err)
    }

    // emit row events for each row in the result
    if (self._emitRowEvents) {
      if (results.length > 1) {
        rows.forEach((rowOfRows, i) => {
          rowOfRows.forEach((row) => {
            self.emit('row', row, results[i])
          })
        })
      } else {
        rows.forEach(function (row) {
          self.emit('row', row, results)
        })
      }
    }

    // handle successful result
    self.state = 'end'
    self.emit('end', results)
    if (self.callback) {
      self.callback(null, results)
    }
  }

  if (process.domain) {
    after = process.domain.bind(after)
  }

  // named query
  if (this.name) {
    if (this.name.length > 63) {
      console.error('Warning! Postgres only supports 63 characters for query names.')
      console.error('You supplied %s (%s)', this.name, this.name.length)
      console.error('This can cause conflicts and silent errors executing queries')
    }
    const values = (this.values || []).map(utils.prepareValue)

    // check if the client has already executed this named query
    // if so...just execute it again - skip the planning phase
    if (client.namedQueries[this.name] !== undefined) {
      if (this.text && client.namedQueries[this.name] !== this.text) {
        const err = new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`)
        return after(err)
      }
      return client.native.execute(this.name, values, after)
    }
    // plan the named query the first time, then execute it
    return client.native.prepare(this.name, this.text, values.length, function (err) {
      if (err) return after(err)
      client.namedQueries[self.name] = self.text
      return self.native.execute(self.name, values, after)
    })
  } else if (this.values) {
    if (!Array.isArray(this.values)) {
      const err = new Error('Query values must be an array')
      return after(err)
    }
    const vals = this.values.map(utils.prepareValue)
    client.native.query(this.text, vals, after)
  } else if (this.queryMode === 'extended') {
    client.native.query(this.text, [], after)
  } else {
    client.native.query(this.text, after)
  }
}


/***/ }),

/***/ 4473:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const { EventEmitter } = __nccwpck_require__(4434)

const Result = __nccwpck_require__(6424)
const utils = __nccwpck_require__(9652)

class Query extends EventEmitter {
  constructor(config, values, callback) {
    super()

    config = utils.normalizeQueryConfig(config, values, callback)

    this.text = config.text
    this.values = config.values
    this.rows = config.rows
    this.types = config.types
    this.name = config.name
    this.queryMode = config.queryMode
    this.binary = config.binary
    // use unique portal name each time
    this.portal = config.portal || ''
    this.callback = config.callback
    this._rowMode = config.rowMode
    if (process.domain && config.callback) {
      this.callback = process.domain.bind(config.callback)
    }
    this._result = new Result(this._rowMode, this.types)

    // potential for multiple results
    this._results = this._result
    this._canceledDueToError = false
  }

  requiresPreparation() {
    if (this.queryMode === 'extended') {
      return true
    }

    // named queries must always be prepared
    if (this.name) {
      return true
    }
    // always prepare if there are max number of rows expected per
    // portal execution
    if (this.rows) {
      return true
    }
    // don't prepare empty text queries
    if (!this.text) {
      return false
    }
    // prepare if there are values
    if (!this.values) {
      return false
    }
    return this.values.length > 0
  }

  _checkForMultirow() {
    // if we already have a result with a command property
    // then we've already executed one query in a multi-statement simple query
    // turn our results into an array of results
    if (this._result.command) {
      if (!Array.isArray(this._results)) {
        this._results = [this._result]
      }
      this._result = new Result(this._rowMode, this._result._types)
      this._results.push(this._result)
    }
  }

  // associates row metadata from the supplied
  // message with this query object
  // metadata used when parsing row results
  handleRowDescription(msg) {
    this._checkForMultirow()
    this._result.addFields(msg.fields)
    this._accumulateRows = this.callback || !this.listeners('row').length
  }

  handleDataRow(msg) {
    let row

    if (this._canceledDueToError) {
      return
    }

    try {
      row = this._result.parseRow(msg.fields)
    } catch (err) {
      this._canceledDueToError = err
      return
    }

    this.emit('row', row, this._result)
    if (this._accumulateRows) {
      this._result.addRow(row)
    }
  }

  handleCommandComplete(msg, connection) {
    this._checkForMultirow()
    this._result.addCommandComplete(msg)
    // need to sync after each command complete of a prepared statement
    // if we were using a row count which results in multiple calls to _getRows
    if (this.rows) {
      connection.sync()
    }
  }

  // if a named prepared statement is created with empty query text
  // the backend will send an emptyQuery message but *not* a command complete message
  // since we pipeline sync immediately after execute we don't need to do anything here
  // unless we have rows specified, in which case we did not pipeline the initial sync call
  handleEmptyQuery(connection) {
    if (this.rows) {
      connection.sync()
    }
  }

  handleError(err, connection) {
    // need to sync after error during a prepared statement
    if (this._canceledDueToError) {
      err = this._canceledDueToError
      this._canceledDueToError = false
    }
    // if callback supplied do not emit error event as uncaught error
    // events will bubble up to node process
    if (this.callback) {
      return this.callback(err)
    }
    this.emit('error', err)
  }

  handleReadyForQuery(con) {
    if (this._canceledDueToError) {
      return this.handleError(this._canceledDueToError, con)
    }
    if (this.callback) {
      try {
        this.callback(null, this._results)
      } catch (err) {
        process.nextTick(() => {
          throw err
        })
      }
    }
    this.emit('end', this._results)
  }

  submit(connection) {
    if (typeof this.text !== 'string' && typeof this.name !== 'string') {
      return new Error('A query must have either text or a name. Supplying neither is unsupported.')
    }
    const previous = connection.parsedStatements[this.name] || connection.submittedNamedStatements[this.name]
    if (this.text && previous && this.text !== previous) {
      return new Error(`Prepared statements must be unique - '${this.name}' was used for a different statement`)
    }
    if (this.values && !Array.isArray(this.values)) {
      return new Error('Query values must be an array')
    }
    if (this.requiresPreparation()) {
      // If we're using the extended query protocol we fire off several separate commands
      // to the backend. On some versions of node & some operating system versions
      // the network stack writes each message separately instead of buffering them together
      // causing the client & network to send more slowly. Corking & uncorking the stream
      // allows node to buffer up the messages internally before sending them all off at once.
      // note: we're checking for existence of cork/uncork because some versions of streams
      // might not have this (cloudflare?)
      connection.stream.cork && connection.stream.cork()
      try {
        this.prepare(connection)
      } finally {
        // while unlikely for this.prepare to throw, if it does & we don't uncork this stream
        // this client becomes unresponsive, so put in finally block "just in case"
        connection.stream.uncork && connection.stream.uncork()
      }
    } else {
      connection.query(this.text)
    }
    return null
  }

  hasBeenParsed(connection) {
    return (
      this.name &&
      (connection.parsedStatements[this.name] !== undefined ||
        connection.submittedNamedStatements[this.name] !== undefined)
    )
  }

  handlePortalSuspended(connection) {
    this._getRows(connection, this.rows)
  }

  _getRows(connection, rows) {
    connection.execute({
      portal: this.portal,
      rows: rows,
    })
    // if we're not reading pages of rows send the sync command
    // to indicate the pipeline is finished
    if (!rows) {
      connection.sync()
    } else {
      // otherwise flush the call out to read more rows
      connection.flush()
    }
  }

  // http://developer.postgresql.org/pgdocs/postgres/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY
  prepare(connection) {
    // TODO refactor this poor encapsulation
    if (!this.hasBeenParsed(connection)) {
      connection.parse({
        text: this.text,
        name: this.name,
        types: this.types,
      })
      if (this.name) {
        connection.submittedNamedStatements[this.name] = this.text
      }
    }

    // because we're mapping user supplied values to
    // postgres wire protocol compatible values it could
    // throw an exception, so try/catch this section
    try {
      connection.bind({
        portal: this.portal,
        statement: this.name,
        values: this.values,
        binary: this.binary,
        valueMapper: utils.prepareValue,
      })
    } catch (err) {
      // we should close parse to avoid leaking connections
      connection.close({ type: 'S', name: this.name })
      connection.sync()

      this.handleError(err, connection)
      return
    }

    connection.describe({
      type: 'P',
      name: this.portal || '',
    })

    this._getRows(connection, this.rows)
  }

  handleCopyInResponse(connection) {
    connection.sendCopyFail('No source stream defined')
  }

  handleCopyData(msg, connection) {
    // noop
  }
}

module.exports = Query


/***/ }),

/***/ 6424:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const types = __nccwpck_require__(1549)

const matchRegexp = /^([A-Za-z]+)(?: (\d+))?(?: (\d+))?/

// result object returned from query
// in the 'end' event and also
// passed as second argument to provided callback
class Result {
  constructor(rowMode, types) {
    this.command = null
    this.rowCount = null
    this.oid = null
    this.rows = []
    this.fields = []
    this._parsers = undefined
    this._types = types
    this.RowCtor = null
    this.rowAsArray = rowMode === 'array'
    if (this.rowAsArray) {
      this.parseRow = this._parseRowAsArray
    }
    this._prebuiltEmptyResultObject = null
  }

  // adds a command complete message
  addCommandComplete(msg) {
    let match
    if (msg.text) {
      // pure javascript
      match = matchRegexp.exec(msg.text)
    } else {
      // native bindings
      match = matchRegexp.exec(msg.command)
    }
    if (match) {
      this.command = match[1]
      if (match[3]) {
        // COMMAND OID ROWS
        this.oid = parseInt(match[2], 10)
        this.rowCount = parseInt(match[3], 10)
      } else if (match[2]) {
        // COMMAND ROWS
        this.rowCount = parseInt(match[2], 10)
      }
    }
  }

  _parseRowAsArray(rowData) {
    const row = new Array(rowData.length)
    for (let i = 0, len = rowData.length; i < len; i++) {
      const rawValue = rowData[i]
      if (rawValue !== null) {
        row[i] = this._parsers[i](rawValue)
      } else {
        row[i] = null
      }
    }
    return row
  }

  parseRow(rowData) {
    const row = { ...this._prebuiltEmptyResultObject }
    for (let i = 0, len = rowData.length; i < len; i++) {
      const rawValue = rowData[i]
      const field = this.fields[i].name
      if (rawValue !== null) {
        const v = this.fields[i].format === 'binary' ? Buffer.from(rawValue) : rawValue
        row[field] = this._parsers[i](v)
      } else {
        row[field] = null
      }
    }
    return row
  }

  addRow(row) {
    this.rows.push(row)
  }

  addFields(fieldDescriptions) {
    // clears field definitions
    // multiple query statements in 1 action can result in multiple sets
    // of rowDescriptions...eg: 'select NOW(); select 1::int;'
    // you need to reset the fields
    this.fields = fieldDescriptions
    if (this.fields.length) {
      this._parsers = new Array(fieldDescriptions.length)
    }

    const row = Object.create(null)

    for (let i = 0; i < fieldDescriptions.length; i++) {
      const desc = fieldDescriptions[i]
      row[desc.name] = null

      if (this._types) {
        this._parsers[i] = this._types.getTypeParser(desc.dataTypeID, desc.format || 'text')
      } else {
        this._parsers[i] = types.getTypeParser(desc.dataTypeID, desc.format || 'text')
      }
    }

    this._prebuiltEmptyResultObject = { ...row }
  }
}

module.exports = Result


/***/ }),

/***/ 829:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

const { getStream, getSecureStream } = getStreamFuncs()

module.exports = {
  /**
   * Get a socket stream compatible with the current runtime environment.
   * @returns {Duplex}
   */
  getStream,
  /**
   * Get a TLS secured socket, compatible with the current environment,
   * using the socket and other settings given in `options`.
   * @returns {Duplex}
   */
  getSecureStream,
}

/**
 * The stream functions that work in Node.js
 */
function getNodejsStreamFuncs() {
  function getStream(ssl) {
    const net = __nccwpck_require__(9278)
    return new net.Socket()
  }

  function getSecureStream(options) {
    const tls = __nccwpck_require__(4756)
    return tls.connect(options)
  }
  return {
    getStream,
    getSecureStream,
  }
}

/**
 * The stream functions that work in Cloudflare Workers
 */
function getCloudflareStreamFuncs() {
  function getStream(ssl) {
    const { CloudflareSocket } = __nccwpck_require__(785)
    return new CloudflareSocket(ssl)
  }

  function getSecureStream(options) {
    options.socket.startTls(options)
    return options.socket
  }
  return {
    getStream,
    getSecureStream,
  }
}

/**
 * Are we running in a Cloudflare Worker?
 *
 * @returns true if the code is currently running inside a Cloudflare Worker.
 */
function isCloudflareRuntime() {
  // Since 2022-03-21 the `global_navigator` compatibility flag is on for Cloudflare Workers
  // which means that `navigator.userAgent` will be defined.
  // eslint-disable-next-line no-undef
  if (typeof navigator === 'object' && navigator !== null && typeof navigator.userAgent === 'string') {
    // eslint-disable-next-line no-undef
    return navigator.userAgent === 'Cloudflare-Workers'
  }
  // In case `navigator` or `navigator.userAgent` is not defined then try a more sneaky approach
  if (typeof Response === 'function') {
    const resp = new Response(null, { cf: { thing: true } })
    if (typeof resp.cf === 'object' && resp.cf !== null && resp.cf.thing) {
      return true
    }
  }
  return false
}

function getStreamFuncs() {
  if (isCloudflareRuntime()) {
    return getCloudflareStreamFuncs()
  }
  return getNodejsStreamFuncs()
}


/***/ }),

/***/ 365:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const types = __nccwpck_require__(1549)

function TypeOverrides(userTypes) {
  this._types = userTypes || types
  this.text = {}
  this.binary = {}
}

TypeOverrides.prototype.getOverrides = function (format) {
  switch (format) {
    case 'text':
      return this.text
    case 'binary':
      return this.binary
    default:
      return {}
  }
}

TypeOverrides.prototype.setTypeParser = function (oid, format, parseFn) {
  if (typeof format === 'function') {
    parseFn = format
    format = 'text'
  }
  this.getOverrides(format)[oid] = parseFn
}

TypeOverrides.prototype.getTypeParser = function (oid, format) {
  format = format || 'text'
  return this.getOverrides(format)[oid] || this._types.getTypeParser(oid, format)
}

module.exports = TypeOverrides


/***/ }),

/***/ 9652:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



const defaults = __nccwpck_require__(8995)
const nodeUtils = __nccwpck_require__(9023)

const { isDate } = __nccwpck_require__(8253)

const invalidDateDeprecationNotice = nodeUtils.deprecate(
  () => {},
  'Sending an invalid date to Postgres is deprecated and will throw an error in the next major version of pg. Ensure any Date object passed as a query parameter is valid.',
  'PG_INVALID_DATE'
)

function escapeElement(elementRepresentation) {
  const escaped = elementRepresentation.replace(/\\/g, '\\\\').replace(/"/g, '\\"')

  return '"' + escaped + '"'
}

// convert a JS array to a postgres array literal
// uses comma separator so won't work for types like box that use
// a different array separator.
function arrayString(val) {
  let result = '{'
  for (let i = 0; i < val.length; i++) {
    if (i > 0) {
      result += ','
    }
    let item = val[i]
    if (item == null) {
      result += 'NULL'
    } else if (Array.isArray(item)) {
      result += arrayString(item)
    } else if (ArrayBuffer.isView(item)) {
      if (!(item instanceof Buffer)) {
        item = Buffer.from(item.buffer, item.byteOffset, item.byteLength)
      }
      result += '\\\\x' + item.toString('hex')
    } else {
      result += escapeElement(prepareValue(item))
    }
  }
  result += '}'
  return result
}

// converts values from javascript types
// to their 'raw' counterparts for use as a postgres parameter
// note: you can override this function to provide your own conversion mechanism
// for complex types, etc...
const prepareValue = function (val, seen) {
  // null and undefined are both null for postgres
  if (val == null) {
    return null
  }
  if (typeof val === 'object') {
    if (val instanceof Buffer) {
      return val
    }
    if (ArrayBuffer.isView(val)) {
      return Buffer.from(val.buffer, val.byteOffset, val.byteLength)
    }
    if (isDate(val)) {
      if (isNaN(val.getTime())) {
        invalidDateDeprecationNotice()
      }
      if (defaults.parseInputDatesAsUTC) {
        return dateToStringUTC(val)
      } else {
        return dateToString(val)
      }
    }
    if (Array.isArray(val)) {
      return arrayString(val)
    }

    return prepareObject(val, seen)
  }
  return val.toString()
}

function prepareObject(val, seen) {
  if (val && typeof val.toPostgres === 'function') {
    seen = seen || []
    if (seen.indexOf(val) !== -1) {
      throw new Error('circular reference detected while preparing "' + val + '" for query')
    }
    seen.push(val)

    return prepareValue(val.toPostgres(prepareValue), seen)
  }
  return JSON.stringify(val)
}

function dateToString(date) {
  let offset = -date.getTimezoneOffset()

  let year = date.getFullYear()
  const isBCYear = year < 1
  if (isBCYear) year = Math.abs(year) + 1 // negative years are 1 off their BC representation

  let ret =
    String(year).padStart(4, '0') +
    '-' +
    String(date.getMonth() + 1).padStart(2, '0') +
    '-' +
    String(date.getDate()).padStart(2, '0') +
    'T' +
    String(date.getHours()).padStart(2, '0') +
    ':' +
    String(date.getMinutes()).padStart(2, '0') +
    ':' +
    String(date.getSeconds()).padStart(2, '0') +
    '.' +
    String(date.getMilliseconds()).padStart(3, '0')

  if (offset < 0) {
    ret += '-'
    offset *= -1
  } else {
    ret += '+'
  }

  ret += String(Math.floor(offset / 60)).padStart(2, '0') + ':' + String(offset % 60).padStart(2, '0')
  if (isBCYear) ret += ' BC'
  return ret
}

function dateToStringUTC(date) {
  let year = date.getUTCFullYear()
  const isBCYear = year < 1
  if (isBCYear) year = Math.abs(year) + 1 // negative years are 1 off their BC representation

  let ret =
    String(year).padStart(4, '0') +
    '-' +
    String(date.getUTCMonth() + 1).padStart(2, '0') +
    '-' +
    String(date.getUTCDate()).padStart(2, '0') +
    'T' +
    String(date.getUTCHours()).padStart(2, '0') +
    ':' +
    String(date.getUTCMinutes()).padStart(2, '0') +
    ':' +
    String(date.getUTCSeconds()).padStart(2, '0') +
    '.' +
    String(date.getUTCMilliseconds()).padStart(3, '0')

  ret += '+00:00'
  if (isBCYear) ret += ' BC'
  return ret
}

function normalizeQueryConfig(config, values, callback) {
  // can take in strings or config objects
  // Copy config so normalization does not mutate the caller's object.
  config = typeof config === 'string' ? { text: config } : cloneQueryConfig(config)
  if (values) {
    if (typeof values === 'function') {
      config.callback = values
    } else {
      config.values = values
    }
  }
  if (callback) {
    config.callback = callback
  }
  return config
}

function cloneQueryConfig(config) {
  if (config == null) {
    return config
  }
  return Object.defineProperties(Object.create(Object.getPrototypeOf(config)), Object.getOwnPropertyDescriptors(config))
}

// Ported from PostgreSQL 9.2.4 source code in src/interfaces/libpq/fe-exec.c
const escapeIdentifier = function (str) {
  return '"' + str.replace(/"/g, '""') + '"'
}

const escapeLiteral = function (str) {
  let hasBackslash = false
  let escaped = "'"

  if (str == null) {
    return "''"
  }

  if (typeof str !== 'string') {
    return "''"
  }

  for (let i = 0; i < str.length; i++) {
    const c = str[i]
    if (c === "'") {
      escaped += c + c
    } else if (c === '\\') {
      escaped += c + c
      hasBackslash = true
    } else {
      escaped += c
    }
  }

  escaped += "'"

  if (hasBackslash === true) {
    escaped = ' E' + escaped
  }

  return escaped
}

module.exports = {
  prepareValue: function prepareValueWrapper(value) {
    // this ensures that extra arguments do not get passed into prepareValue
    // by accident, eg: from calling values.map(utils.prepareValue)
    return prepareValue(value)
  },
  normalizeQueryConfig,
  escapeIdentifier,
  escapeLiteral,
}


/***/ }),

/***/ 8702:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



var path = __nccwpck_require__(6928)
  , Stream = (__nccwpck_require__(2203).Stream)
  , split = __nccwpck_require__(5286)
  , util = __nccwpck_require__(9023)
  , defaultPort = 5432
  , isWin = (process.platform === 'win32')
  , warnStream = process.stderr
;


var S_IRWXG = 56     //    00070(8)
  , S_IRWXO = 7      //    00007(8)
  , S_IFMT  = 61440  // 00170000(8)
  , S_IFREG = 32768  //  0100000(8)
;
function isRegFile(mode) {
    return ((mode & S_IFMT) == S_IFREG);
}

var fieldNames = [ 'host', 'port', 'database', 'user', 'password' ];
var nrOfFields = fieldNames.length;
var passKey = fieldNames[ nrOfFields -1 ];


function warn() {
    var isWritable = (
        warnStream instanceof Stream &&
          true === warnStream.writable
    );

    if (isWritable) {
        var args = Array.prototype.slice.call(arguments).concat("\n");
        warnStream.write( util.format.apply(util, args) );
    }
}


Object.defineProperty(module.exports, "isWin", ({
    get : function() {
        return isWin;
    } ,
    set : function(val) {
        isWin = val;
    }
}));


module.exports.warnTo = function(stream) {
    var old = warnStream;
    warnStream = stream;
    return old;
};

module.exports.getFileName = function(rawEnv){
    var env = rawEnv || process.env;
    var file = env.PGPASSFILE || (
        isWin ?
          path.join( env.APPDATA || './' , 'postgresql', 'pgpass.conf' ) :
          path.join( env.HOME || './', '.pgpass' )
    );
    return file;
};

module.exports.usePgPass = function(stats, fname) {
    if (Object.prototype.hasOwnProperty.call(process.env, 'PGPASSWORD')) {
        return false;
    }

    if (isWin) {
        return true;
    }

    fname = fname || '<unkn>';

    if (! isRegFile(stats.mode)) {
        warn('WARNING: password file "%s" is not a plain file', fname);
        return false;
    }

    if (stats.mode & (S_IRWXG | S_IRWXO)) {
        /* If password file is insecure, alert the user and ignore it. */
        warn('WARNING: password file "%s" has group or world access; permissions should be u=rw (0600) or less', fname);
        return false;
    }

    return true;
};


var matcher = module.exports.match = function(connInfo, entry) {
    return fieldNames.slice(0, -1).reduce(function(prev, field, idx){
        if (idx == 1) {
            // the port
            if ( Number( connInfo[field] || defaultPort ) === Number( entry[field] ) ) {
                return prev && true;
            }
        }
        return prev && (
            entry[field] === '*' ||
              entry[field] === connInfo[field]
        );
    }, true);
};


module.exports.getPassword = function(connInfo, stream, cb) {
    var pass;
    var lineStream = stream.pipe(split());

    function onLine(line) {
        var entry = parseLine(line);
        if (entry && isValidEntry(entry) && matcher(connInfo, entry)) {
            pass = entry[passKey];
            lineStream.end(); // -> calls onEnd(), but pass is set now
        }
    }

    var onEnd = function() {
        stream.destroy();
        cb(pass);
    };

    var onErr = function(err) {
        stream.destroy();
        warn('WARNING: error on reading file: %s', err);
        cb(undefined);
    };

    stream.on('error', onErr);
    lineStream
        .on('data', onLine)
        .on('end', onEnd)
        .on('error', onErr)
    ;

};


var parseLine = module.exports.parseLine = function(line) {
    if (line.length < 11 || line.match(/^\s+#/)) {
        return null;
    }

    var curChar = '';
    var prevChar = '';
    var fieldIdx = 0;
    var startIdx = 0;
    var endIdx = 0;
    var obj = {};
    var isLastField = false;
    var addToObj = function(idx, i0, i1) {
        var field = line.substring(i0, i1);

        if (! Object.hasOwnProperty.call(process.env, 'PGPASS_NO_DEESCAPE')) {
            field = field.replace(/\\([:\\])/g, '$1');
        }

        obj[ fieldNames[idx] ] = field;
    };

    for (var i = 0 ; i < line.length-1 ; i += 1) {
        curChar = line.charAt(i+1);
        prevChar = line.charAt(i);

        isLastField = (fieldIdx == nrOfFields-1);

        if (isLastField) {
            addToObj(fieldIdx, startIdx);
            break;
        }

        if (i >= 0 && curChar == ':' && prevChar !== '\\') {
            addToObj(fieldIdx, startIdx, i+1);

            startIdx = i+2;
            fieldIdx += 1;
        }
    }

    obj = ( Object.keys(obj).length === nrOfFields ) ? obj : null;

    return obj;
};


var isValidEntry = module.exports.isValidEntry = function(entry){
    var rules = {
        // host
        0 : function(x){
            return x.length > 0;
        } ,
        // port
        1 : function(x){
            if (x === '*') {
                return true;
            }
            x = Number(x);
            return (
                isFinite(x) &&
                  x > 0 &&
                  x < 9007199254740992 &&
                  Math.floor(x) === x
            );
        } ,
        // database
        2 : function(x){
            return x.length > 0;
        } ,
        // username
        3 : function(x){
            return x.length > 0;
        } ,
        // password
        4 : function(x){
            return x.length > 0;
        }
    };

    for (var idx = 0 ; idx < fieldNames.length ; idx += 1) {
        var rule = rules[idx];
        var value = entry[ fieldNames[idx] ] || '';

        var res = rule(value);
        if (!res) {
            return false;
        }
    }

    return true;
};



/***/ }),

/***/ 3272:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



var path = __nccwpck_require__(6928)
  , fs = __nccwpck_require__(9896)
  , helper = __nccwpck_require__(8702)
;


module.exports = function(connInfo, cb) {
    var file = helper.getFileName();
    
    fs.stat(file, function(err, stat){
        if (err || !helper.usePgPass(stat, file)) {
            return cb(undefined);
        }

        var st = fs.createReadStream(file);

        helper.getPassword(connInfo, st, cb);
    });
};

module.exports.warnTo = helper.warnTo;


/***/ }),

/***/ 3879:
/***/ ((__unused_webpack_module, exports) => {



exports.parse = function (source, transform) {
  return new ArrayParser(source, transform).parse()
}

class ArrayParser {
  constructor (source, transform) {
    this.source = source
    this.transform = transform || identity
    this.position = 0
    this.entries = []
    this.recorded = []
    this.dimension = 0
  }

  isEof () {
    return this.position >= this.source.length
  }

  nextCharacter () {
    var character = this.source[this.position++]
    if (character === '\\') {
      return {
        value: this.source[this.position++],
        escaped: true
      }
    }
    return {
      value: character,
      escaped: false
    }
  }

  record (character) {
    this.recorded.push(character)
  }

  newEntry (includeEmpty) {
    var entry
    if (this.recorded.length > 0 || includeEmpty) {
      entry = this.recorded.join('')
      if (entry === 'NULL' && !includeEmpty) {
        entry = null
      }
      if (entry !== null) entry = this.transform(entry)
      this.entries.push(entry)
      this.recorded = []
    }
  }

  consumeDimensions () {
    if (this.source[0] === '[') {
      while (!this.isEof()) {
        var char = this.nextCharacter()
        if (char.value === '=') break
      }
    }
  }

  parse (nested) {
    var character, parser, quote
    this.consumeDimensions()
    while (!this.isEof()) {
      character = this.nextCharacter()
      if (character.value === '{' && !quote) {
        this.dimension++
        if (this.dimension > 1) {
          parser = new ArrayParser(this.source.substr(this.position - 1), this.transform)
          this.entries.push(parser.parse(true))
          this.position += parser.position - 2
        }
      } else if (character.value === '}' && !quote) {
        this.dimension--
        if (!this.dimension) {
          this.newEntry()
          if (nested) return this.entries
        }
      } else if (character.value === '"' && !character.escaped) {
        if (quote) this.newEntry(true)
        quote = !quote
      } else if (character.value === ',' && !quote) {
        this.newEntry()
      } else {
        this.record(character.value)
      }
    }
    if (this.dimension !== 0) {
      throw new Error('array dimension not balanced')
    }
    return this.entries
  }
}

function identity (value) {
  return value
}


/***/ }),

/***/ 463:
/***/ ((module) => {



var bufferFrom = Buffer.from || Buffer

module.exports = function parseBytea (input) {
  if (/^\\x/.test(input)) {
    // new 'hex' style response (pg >9.0)
    return bufferFrom(input.substr(2), 'hex')
  }
  var output = ''
  var i = 0
  while (i < input.length) {
    if (input[i] !== '\\') {
      output += input[i]
      ++i
    } else {
      if (/[0-7]{3}/.test(input.substr(i + 1, 3))) {
        output += String.fromCharCode(parseInt(input.substr(i + 1, 3), 8))
        i += 4
      } else {
        var backslashes = 1
        while (i + backslashes < input.length && input[i + backslashes] === '\\') {
          backslashes++
        }
        for (var k = 0; k < Math.floor(backslashes / 2); ++k) {
          output += '\\'
        }
        i += Math.floor(backslashes / 2) * 2
      }
    }
  }
  return bufferFrom(output, 'binary')
}


/***/ }),

/***/ 2690:
/***/ ((module) => {



var DATE_TIME = /(\d{1,})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,})?.*?( BC)?$/
var DATE = /^(\d{1,})-(\d{2})-(\d{2})( BC)?$/
var TIME_ZONE = /([Z+-])(\d{2})?:?(\d{2})?:?(\d{2})?/
var INFINITY = /^-?infinity$/

module.exports = function parseDate (isoDate) {
  if (INFINITY.test(isoDate)) {
    // Capitalize to Infinity before passing to Number
    return Number(isoDate.replace('i', 'I'))
  }
  var matches = DATE_TIME.exec(isoDate)

  if (!matches) {
    // Force YYYY-MM-DD dates to be parsed as local time
    return getDate(isoDate) || null
  }

  var isBC = !!matches[8]
  var year = parseInt(matches[1], 10)
  if (isBC) {
    year = bcYearToNegativeYear(year)
  }

  var month = parseInt(matches[2], 10) - 1
  var day = matches[3]
  var hour = parseInt(matches[4], 10)
  var minute = parseInt(matches[5], 10)
  var second = parseInt(matches[6], 10)

  var ms = matches[7]
  ms = ms ? 1000 * parseFloat(ms) : 0

  var date
  var offset = timeZoneOffset(isoDate)
  if (offset != null) {
    date = new Date(Date.UTC(year, month, day, hour, minute, second, ms))

    // Account for years from 0 to 99 being interpreted as 1900-1999
    // by Date.UTC / the multi-argument form of the Date constructor
    if (is0To99(year)) {
      date.setUTCFullYear(year)
    }

    if (offset !== 0) {
      date.setTime(date.getTime() - offset)
    }
  } else {
    date = new Date(year, month, day, hour, minute, second, ms)

    if (is0To99(year)) {
      date.setFullYear(year)
    }
  }

  return date
}

function getDate (isoDate) {
  var matches = DATE.exec(isoDate)
  if (!matches) {
    return
  }

  var year = parseInt(matches[1], 10)
  var isBC = !!matches[4]
  if (isBC) {
    year = bcYearToNegativeYear(year)
  }

  var month = parseInt(matches[2], 10) - 1
  var day = matches[3]
  // YYYY-MM-DD will be parsed as local time
  var date = new Date(year, month, day)

  if (is0To99(year)) {
    date.setFullYear(year)
  }

  return date
}

// match timezones:
// Z (UTC)
// -05
// +06:30
function timeZoneOffset (isoDate) {
  if (isoDate.endsWith('+00')) {
    return 0
  }

  var zone = TIME_ZONE.exec(isoDate.split(' ')[1])
  if (!zone) return
  var type = zone[1]

  if (type === 'Z') {
    return 0
  }
  var sign = type === '-' ? -1 : 1
  var offset = parseInt(zone[2], 10) * 3600 +
    parseInt(zone[3] || 0, 10) * 60 +
    parseInt(zone[4] || 0, 10)

  return offset * sign * 1000
}

function bcYearToNegativeYear (year) {
  // Account for numerical difference between representations of BC years
  // See: https://github.com/bendrucker/postgres-date/issues/5
  return -(year - 1)
}

function is0To99 (num) {
  return num >= 0 && num < 100
}


/***/ }),

/***/ 8755:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {



var extend = __nccwpck_require__(223)

module.exports = PostgresInterval

function PostgresInterval (raw) {
  if (!(this instanceof PostgresInterval)) {
    return new PostgresInterval(raw)
  }
  extend(this, parse(raw))
}
var properties = ['seconds', 'minutes', 'hours', 'days', 'months', 'years']
PostgresInterval.prototype.toPostgres = function () {
  var filtered = properties.filter(this.hasOwnProperty, this)

  // In addition to `properties`, we need to account for fractions of seconds.
  if (this.milliseconds && filtered.indexOf('seconds') < 0) {
    filtered.push('seconds')
  }

  if (filtered.length === 0) return '0'
  return filtered
    .map(function (property) {
      var value = this[property] || 0

      // Account for fractional part of seconds,
      // remove trailing zeroes.
      if (property === 'seconds' && this.milliseconds) {
        value = (value + this.milliseconds / 1000).toFixed(6).replace(/\.?0+$/, '')
      }

      return value + ' ' + property
    }, this)
    .join(' ')
}

var propertiesISOEquivalent = {
  years: 'Y',
  months: 'M',
  days: 'D',
  hours: 'H',
  minutes: 'M',
  seconds: 'S'
}
var dateProperties = ['years', 'months', 'days']
var timeProperties = ['hours', 'minutes', 'seconds']
// according to ISO 8601
PostgresInterval.prototype.toISOString = PostgresInterval.prototype.toISO = function () {
  var datePart = dateProperties
    .map(buildProperty, this)
    .join('')

  var timePart = timeProperties
    .map(buildProperty, this)
    .join('')

  return 'P' + datePart + 'T' + timePart

  function buildProperty (property) {
    var value = this[property] || 0

    // Account for fractional part of seconds,
    // remove trailing zeroes.
    if (property === 'seconds' && this.milliseconds) {
      value = (value + this.milliseconds / 1000).toFixed(6).replace(/0+$/, '')
    }

    return value + propertiesISOEquivalent[property]
  }
}

var NUMBER = '([+-]?\\d+)'
var YEAR = NUMBER + '\\s+years?'
var MONTH = NUMBER + '\\s+mons?'
var DAY = NUMBER + '\\s+days?'
var TIME = '([+-])?([\\d]*):(\\d\\d):(\\d\\d)\\.?(\\d{1,6})?'
var INTERVAL = new RegExp([YEAR, MONTH, DAY, TIME].map(function (regexString) {
  return '(' + regexString + ')?'
})
  .join('\\s*'))

// Positions of values in regex match
var positions = {
  years: 2,
  months: 4,
  days: 6,
  hours: 9,
  minutes: 10,
  seconds: 11,
  milliseconds: 12
}
// We can use negative time
var negatives = ['hours', 'minutes', 'seconds', 'milliseconds']

function parseMilliseconds (fraction) {
  // add omitted zeroes
  var microseconds = fraction + '000000'.slice(fraction.length)
  return parseInt(microseconds, 10) / 1000
}

function parse (interval) {
  if (!interval) return {}
  var matches = INTERVAL.exec(interval)
  var isNegative = matches[8] === '-'
  return Object.keys(positions)
    .reduce(function (parsed, property) {
      var position = positions[property]
      var value = matches[position]
      // no empty string
      if (!value) return parsed
      // milliseconds are actually microseconds (up to 6 digits)
      // with omitted trailing zeroes.
      value = property === 'milliseconds'
        ? parseMilliseconds(value)
        : parseInt(value, 10)
      // no zeros
      if (!value) return parsed
      if (isNegative && ~negatives.indexOf(property)) {
        value *= -1
      }
      parsed[property] = value
      return parsed
    }, {})
}


/***/ }),

/***/ 5286:
/***/ ((module, __unused_webpack_exports, __nccwpck_require__) => {

/*
Copyright (c) 2014-2021, Matteo Collina <hello@matteocollina.com>

Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF OR
IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.
*/



const { Transform } = __nccwpck_require__(2203)
const { StringDecoder } = __nccwpck_require__(3193)
const kLast = Symbol('last')
const kDecoder = Symbol('decoder')

function transform (chunk, enc, cb) {
  let list
  if (this.overflow) { // Line buffer is full. Skip to start of next line.
    const buf = this[kDecoder].write(chunk)
    list = buf.split(this.matcher)

    if (list.length === 1) return cb() // Line ending not found. Discard entire chunk.

    // Line ending found. Discard trailing fragment of previous line and reset overflow state.
    list.shift()
    this.overflow = false
  } else {
    this[kLast] += this[kDecoder].write(chunk)
    list = this[kLast].split(this.matcher)
  }

  this[kLast] = list.pop()

  for (let i = 0; i < list.length; i++) {
    try {
      push(this, this.mapper(list[i]))
    } catch (error) {
      return cb(error)
    }
  }

  this.overflow = this[kLast].length > this.maxLength
  if (this.overflow && !this.skipOverflow) {
    cb(new Error('maximum buffer reached'))
    return
  }

  cb()
}

function flush (cb) {
  // forward any gibberish left in there
  this[kLast] += this[kDecoder].end()

  if (this[kLast]) {
    try {
      push(this, this.mapper(this[kLast]))
    } catch (error) {
      return cb(error)
    }
  }

  cb()
}

function push (self, val) {
  if (val !== undefined) {
    self.push(val)
  }
}

function noop (incoming) {
  return incoming
}

function split (matcher, mapper, options) {
  // Set defaults for any arguments not supplied.
  matcher = matcher || /\r?\n/
  mapper = mapper || noop
  options = options || {}

  // Test arguments explicitly.
  switch (arguments.length) {
    case 1:
      // If mapper is only argument.
      if (typeof matcher === 'function') {
        mapper = matcher
        matcher = /\r?\n/
      // If options is only argument.
      } else if (typeof matcher === 'object' && !(matcher instanceof RegExp) && !matcher[Symbol.split]) {
        options = matcher
        matcher = /\r?\n/
      }
      break

    case 2:
      // If mapper and options are arguments.
      if (typeof matcher === 'function') {
        options = mapper
        mapper = matcher
        matcher = /\r?\n/
      // If matcher and options are arguments.
      } else if (typeof mapper === 'object') {
        options = mapper
        mapper = noop
      }
  }

  options = Object.assign({}, options)
  options.autoDestroy = true
  options.transform = transform
  options.flush = flush
  options.readableObjectMode = true

  const stream = new Transform(options)

  stream[kLast] = ''
  stream[kDecoder] = new StringDecoder('utf8')
  stream.matcher = matcher
  stream.mapper = mapper
  stream.maxLength = options.maxLength
  stream.skipOverflow = options.skipOverflow || false
  stream.overflow = false
  stream._destroy = function (err, cb) {
    // Weird Node v12 bug that we need to work around
    this._writableState.errorEmitted = false
    cb(err)
  }

  return stream
}

module.exports = split


/***/ }),

/***/ 223:
/***/ ((module) => {

module.exports = extend

var hasOwnProperty = Object.prototype.hasOwnProperty;

function extend(target) {
    for (var i = 1; i < arguments.length; i++) {
        var source = arguments[i]

        for (var key in source) {
            if (hasOwnProperty.call(source, key)) {
                target[key] = source[key]
            }
        }
    }

    return target
}


/***/ }),

/***/ 486:
/***/ ((module, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _main_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(62);

process.exitCode = await (0,_main_js__WEBPACK_IMPORTED_MODULE_0__/* .main */ .i)(process.argv.slice(2));

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 62:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  i: () => (/* binding */ main)
});

// EXTERNAL MODULE: ./src/shared/errors.ts
var shared_errors = __nccwpck_require__(8382);
;// CONCATENATED MODULE: ./src/db/database-url.ts

/** Query parameters we pass on to libpq, with the environment variable libpq reads for each. */
const LIBPQ_PARAMS = {
    host: "PGHOST",
    hostaddr: "PGHOSTADDR",
    port: "PGPORT",
    user: "PGUSER",
    dbname: "PGDATABASE",
    password: "PGPASSWORD",
    sslmode: "PGSSLMODE",
    sslrootcert: "PGSSLROOTCERT",
    sslcert: "PGSSLCERT",
    sslkey: "PGSSLKEY",
    sslcrl: "PGSSLCRL",
    sslnegotiation: "PGSSLNEGOTIATION",
    requiressl: "PGREQUIRESSL",
    connect_timeout: "PGCONNECT_TIMEOUT",
    application_name: "PGAPPNAME",
    options: "PGOPTIONS",
    target_session_attrs: "PGTARGETSESSIONATTRS",
    gssencmode: "PGGSSENCMODE",
    channel_binding: "PGCHANNELBINDING",
    service: "PGSERVICE",
};
const EXPECTED_FORM = "postgresql://user:password@host:5432/dbname";
/** Splits `scheme://userinfo@rest` at the last '@', so that a password with an unencoded @ / ? # stays whole. */
function splitAuthority(raw) {
    const m = /^([a-z0-9+.-]*:\/\/)(.*)$/is.exec(raw);
    if (!m)
        return undefined;
    const body = m[2];
    const at = body.lastIndexOf("@");
    return at < 0
        ? { scheme: m[1], userinfo: undefined, rest: body }
        : { scheme: m[1], userinfo: body.slice(0, at), rest: body.slice(at + 1) };
}
/**
 * Hides the credentials of a URL-looking string so that it can be quoted in a message, whether or not
 * it parses: everything credential-shaped (see passwordsIn) becomes ***.
 */
function redactUrl(raw) {
    const parts = splitAuthority(raw);
    let out = raw;
    if (parts?.userinfo !== undefined) {
        // The well-formed case keeps the user name: scheme://user:***@host
        const colon = parts.userinfo.indexOf(":");
        const user = colon < 0 ? parts.userinfo : `${parts.userinfo.slice(0, colon)}:***`;
        out = `${parts.scheme}${user}@${parts.rest}`;
    }
    for (const secret of passwordsIn(raw).sort((a, b) => b.length - a.length))
        out = out.split(secret).join("***");
    return out;
}
/**
 * Parses DATABASE_URL. Accepts libpq URLs (`postgresql://`, `postgres://`) and the SQLAlchemy form the
 * runbook uses (`postgresql+psycopg://`), percent-encoded user, password and socket paths, and libpq
 * query parameters such as `sslmode`.
 */
function parseDatabaseUrl(raw, name = "DATABASE_URL") {
    const value = raw.trim();
    const shown = redactUrl(value);
    const fail = (why) => {
        throw new shared_errors/* ConfigError */.xL(`${name} is not a valid PostgreSQL URL (${why}): '${shown}'. Expected ${EXPECTED_FORM}`);
    };
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value)?.[1]?.toLowerCase();
    if (scheme === undefined) {
        const bare = /^(postgres(?:ql)?(?:\+[a-z0-9]+)?):/i.exec(value)?.[1];
        fail(bare
            ? `'${bare}:' is not followed by '//'; write ${bare}://user:password@host:5432/dbname`
            : "it does not start with postgresql://");
    }
    const base = scheme.split("+")[0];
    if (base !== "postgresql" && base !== "postgres")
        fail(`unsupported scheme '${scheme}:'`);
    // Swap the scheme for one WHATWG URL treats generically; everything after '://' is parsed as-is.
    let url;
    try {
        url = new URL(`lifeline-pg${value.slice(scheme.length)}`);
    }
    catch {
        if (/^[^/]*\/\/[^/?#]*,/.test(value))
            fail("several hosts in one URL are not supported; name one host");
        const parts = splitAuthority(value);
        if (parts?.userinfo !== undefined && /[/?#]/.test(parts.userinfo)) {
            fail("the user or password holds an unencoded / ? or #; percent-encode them: / as %2F, ? as %3F, # as %23");
        }
        const hostPort = parts?.rest.split(/[/?#]/)[0] ?? "";
        // Never quote a fragment of a value that did not parse: with no '@', the "port" may be a password.
        if (/^(?:\[[^\]]*\]|[^:]*):/.test(hostPort)) {
            fail("the text after the host's ':' is not a port number from 1 to 65535; a password needs a user before it " +
                "and an '@' after it (user:password@host), with @ / ? # : in it percent-encoded");
        }
        return fail("it could not be parsed; percent-encode special characters in the user and password: @ as %40, / as %2F, ? as %3F, # as %23, : as %3A");
    }
    const decode = (part, what) => {
        try {
            return decodeURIComponent(part);
        }
        catch {
            return fail(`the ${what} has an invalid percent-encoding`);
        }
    };
    const params = {};
    for (const [key, val] of url.searchParams) {
        if (!(key in LIBPQ_PARAMS)) {
            fail(`unknown query parameter '${key}'; libpq accepts ${Object.keys(LIBPQ_PARAMS).join(", ")}`);
        }
        params[key] = val;
    }
    let host = url.hostname ? decode(url.hostname, "host") : undefined;
    if (host?.startsWith("[") && host.endsWith("]"))
        host = host.slice(1, -1);
    host ??= params.host;
    let port;
    const rawPort = url.port || params.port;
    if (rawPort) {
        port = Number(rawPort);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
            fail(`port '${rawPort}' is not a number from 1 to 65535`);
    }
    const path = url.pathname.replace(/^\//, "");
    if (path.includes("/"))
        fail("the database name must not contain '/'");
    const database = path ? decode(path, "database name") : params.dbname;
    const settings = {
        params,
        ...(host ? { host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(url.username
            ? { user: decode(url.username, "user name") }
            : params.user
                ? { user: params.user }
                : {}),
        ...(url.password
            ? { password: decode(url.password, "password") }
            : params.password
                ? { password: params.password }
                : {}),
        ...(database ? { database } : {}),
    };
    return settings;
}
/**
 * The environment for libpq programs (pg_dump, psql): the caller's environment with the URL's parts
 * laid over it. The password travels in PGPASSWORD, never in argv.
 */
function libpqEnvironment(settings, base = process.env) {
    const env = { ...base };
    for (const [key, val] of Object.entries(settings.params)) {
        const variable = LIBPQ_PARAMS[key];
        if (variable)
            env[variable] = val;
    }
    if (settings.host !== undefined)
        env.PGHOST = settings.host;
    if (settings.port !== undefined)
        env.PGPORT = String(settings.port);
    if (settings.user !== undefined)
        env.PGUSER = settings.user;
    if (settings.database !== undefined)
        env.PGDATABASE = settings.database;
    if (settings.password !== undefined)
        env.PGPASSWORD = settings.password;
    return env;
}
/** Where the connection goes, for messages: host:port/database, never the password. */
function describeTarget(settings, env = process.env) {
    const host = settings.host ?? env.PGHOST ?? "localhost";
    const port = settings.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
    const database = settings.database ?? env.PGDATABASE ?? settings.user ?? env.PGUSER ?? "(default)";
    const where = host.startsWith("/") ? `socket ${host} port ${port}` : `${host}:${port}`;
    return `${where}, database "${database}"`;
}
/**
 * Everything credential-shaped in a URL-looking string, so that it can be registered as a secret before
 * a malformed URL is quoted anywhere; nothing more (a fragment registered would mask that text in every
 * log line). A `scheme://` URL that parses gives its password only. One that does not: the userinfo's
 * password, from its first ':' to the LAST '@' (a password with unencoded @ / ? #); with no '@' at all,
 * `user:xxx` before the first '/' where xxx is not a port (`postgresql://admin:pw/db`, or '#' typed for
 * '@'). Without `://` (`postgresql:user:pw@host`, `postgres:pw@host`) the whole text before the last '@'
 * too, since the user and the password can't be told apart. And `password=` values (query parameters, or
 * libpq's keyword/value form). Raw and decoded forms.
 */
function passwordsIn(raw) {
    const value = raw.trim();
    const found = [];
    const withSlashes = /^[a-z][a-z0-9+.-]*:\/\/(.*)$/is.exec(value);
    if (withSlashes) {
        const body = withSlashes[1];
        const parsed = parseGeneric(body);
        if (parsed) {
            if (parsed.password)
                found.push(parsed.password);
        }
        else {
            const at = body.lastIndexOf("@");
            if (at >= 0) {
                const userinfo = body.slice(0, at);
                const colon = userinfo.indexOf(":");
                if (colon >= 0)
                    found.push(userinfo.slice(colon + 1));
            }
            else {
                const authority = body.split("/")[0];
                const colon = authority.startsWith("[") ? -1 : authority.indexOf(":");
                const after = colon < 0 ? "" : authority.slice(colon + 1);
                if (!/^\d*$/.test(after))
                    found.push(after);
            }
        }
    }
    else {
        const at = value.lastIndexOf("@");
        if (at >= 0) {
            const userinfo = value.slice(0, at).replace(/^[a-z][a-z0-9+.-]*:\/?/i, "");
            found.push(userinfo);
            const colon = userinfo.indexOf(":");
            if (colon >= 0)
                found.push(userinfo.slice(colon + 1));
        }
    }
    for (const m of value.matchAll(/password\s*=\s*('(?:[^'\\]|\\.)*'|[^&#\s]*)/gi)) {
        if (m[1])
            found.push(m[1], m[1].replace(/^'(.*)'$/s, "$1"));
    }
    const all = new Set();
    for (const p of found) {
        all.add(p);
        try {
            all.add(decodeURIComponent(p));
        }
        catch {
            // not percent-encoded: the raw form is enough
        }
    }
    return [...all].filter((p) => p !== "" && p !== "''");
}
/** The WHATWG parse of what follows `scheme://`, or undefined when it does not parse. */
function parseGeneric(body) {
    try {
        return new URL(`lifeline-pg://${body}`);
    }
    catch {
        return undefined;
    }
}

;// CONCATENATED MODULE: ./src/db/database-properties.ts
/** Reads the properties of the database `client` is connected to (in its transaction's snapshot). */
async function readDatabaseProperties(client) {
    const [db] = (await client.query(`SELECT pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding,
              d.datcollate AS collate, d.datctype AS ctype, d.datconnlimit AS connlimit,
              d.datacl IS NULL AS acl_default, shobj_description(d.oid, 'pg_database') AS comment
         FROM pg_database d WHERE d.datname = current_database()`)).rows;
    if (!db)
        throw new Error("the current database is not in pg_database");
    const acl = db.acl_default
        ? null
        : (await client.query(`SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
                  a.privilege_type AS privilege, a.is_grantable AS grantable
             FROM pg_database d, aclexplode(d.datacl) a
            WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST, 2`)).rows.map((r) => ({ grantee: r.grantee, privilege: r.privilege, grantable: r.grantable }));
    const settings = (await client.query(`SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END AS role,
              s.setconfig AS config
         FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = current_database() ORDER BY 1 NULLS FIRST`)).rows.map((r) => ({ role: r.role, settings: [...r.config].sort() }));
    return {
        owner: db.owner,
        encoding: db.encoding,
        collate: db.collate,
        ctype: db.ctype,
        connectionLimit: db.connlimit,
        acl,
        comment: db.comment,
        settings,
    };
}

;// CONCATENATED MODULE: ./src/db/names.ts
/**
 * Object names as the server stores them: bytes. A name that is valid UTF-8 is kept as that string;
 * one that is not (a SQL_ASCII database holding Latin-1 names, say) is shown with its bytes >= 0x80
 * as `\xHH` and its exact bytes are kept beside it in hex, so that it round-trips byte for byte.
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** The string a name is listed under: the UTF-8 text, or an escaped form when the bytes are not UTF-8. */
function displayName(bytes) {
    try {
        return UTF8.decode(bytes);
    }
    catch {
        let out = "";
        for (const b of bytes)
            out += b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
        return out;
    }
}
/** Whether `bytes` need their hex kept beside the display name (they are not UTF-8). */
function needsRawName(bytes) {
    try {
        UTF8.decode(bytes);
        return false;
    }
    catch {
        return true;
    }
}
/** The exact bytes (hex) of a listed name: from `rawNames` when recorded there, else its UTF-8. */
function nameBytesHex(name, rawNames) {
    return rawNames?.[name] ?? Buffer.from(name, "utf8").toString("hex");
}
/**
 * SQL that yields the bytes of a text expression, hex-encoded, as the server stores them: raw in a
 * SQL_ASCII database (where no conversion is possible), converted to UTF-8 in any other.
 */
function hexOfName(expression, databaseEncoding) {
    const to = databaseEncoding === "SQL_ASCII" ? "SQL_ASCII" : "UTF8";
    return `encode(convert_to((${expression})::text, '${to}'), 'hex')`;
}

// EXTERNAL MODULE: ./node_modules/pg/lib/index.js
var lib = __nccwpck_require__(3273);
;// CONCATENATED MODULE: ./node_modules/pg/esm/index.mjs
// ESM wrapper for pg


// Re-export all the properties
const Client = lib.Client
const Pool = lib.Pool
const Connection = lib.Connection
const types = lib.types
const Query = lib.Query
const DatabaseError = lib.DatabaseError
const escapeIdentifier = lib.escapeIdentifier
const escapeLiteral = lib.escapeLiteral
const Result = lib.Result
const TypeOverrides = lib.TypeOverrides

// Also export the defaults
const defaults = lib.defaults

// Re-export the default
/* harmony default export */ const esm = (lib);

// EXTERNAL MODULE: ./src/net/deadline.ts
var deadline = __nccwpck_require__(7879);
;// CONCATENATED MODULE: ./src/db/connection-error.ts

/**
 * Turns a connection failure (from node-postgres or libpq's stderr) into a message that says what
 * went wrong, where, and what to check next. Never includes the password.
 */
function connectionError(cause, target) {
    const err = (cause ?? {});
    const code = err.code ?? "";
    const text = err.message ?? String(cause);
    let why;
    switch (true) {
        case code === "ECONNREFUSED" || /Connection refused/i.test(text):
            why =
                "connection refused: is PostgreSQL running and listening there? Check the host and port in DATABASE_URL (test with pg_isready)";
            break;
        case code === "ENOTFOUND" || code === "EAI_AGAIN" || /could not translate host name/i.test(text):
            why = "the host name does not resolve: check the host in DATABASE_URL";
            break;
        case code === "ETIMEDOUT" || /timeout/i.test(text):
            why = "the connection timed out: check the host, port and any firewall between here and the server";
            break;
        case code === "28P01" || /password authentication failed/i.test(text):
            why =
                "password authentication failed: check the user and password in DATABASE_URL (or PGPASSWORD / PGPASSFILE)";
            break;
        case code === "28000":
            why = `the server refused the login (${text}): check pg_hba.conf and the user in DATABASE_URL`;
            break;
        case code === "3D000" || /database .* does not exist/i.test(text):
            why =
                "that database does not exist: check the database name in DATABASE_URL (list databases with psql -l)";
            break;
        case code === "ENOENT" && /\.s\.PGSQL/.test(text):
            why = "no server socket at that path: is PostgreSQL running, and is the socket directory right?";
            break;
        default:
            why = text;
    }
    return new shared_errors/* UserError */.yo(`Cannot connect to PostgreSQL at ${target}: ${why}`, { cause });
}

;// CONCATENATED MODULE: ./src/db/server-info.ts




const DEFAULT_CONNECT_TIMEOUT_SECONDS = 10;
/** Bound of the short queries before a dump (server version, size, the snapshot's BEGIN): never the dump's. */
const SHORT_QUERY_TIMEOUT_MS = 60_000;
/** How long a polite close (Terminate, then the server's FIN) may take before the socket is cut. */
const CLOSE_TIMEOUT_MS = 2_000;
/**
 * Cuts a client's socket at once. node-postgres has no public way to: end() waits for the server's
 * FIN, which a silent server never sends.
 */
function destroyClient(client) {
    client.connection?.stream?.destroy();
}
/** Closes a client, cutting the socket when the server does not answer the goodbye in time. */
async function closeClient(client) {
    await (0,deadline/* withDeadline */.NE)("Closing the PostgreSQL connection", CLOSE_TIMEOUT_MS, () => client.end()).catch(() => destroyClient(client));
}
/**
 * Runs one short query under a deadline and `signal`: a server gone silent (or SIGTERM) cuts the
 * connection instead of holding the run. Not for the dump, nor for counts that may take long.
 */
async function shortQuery(client, sql, signal) {
    return (0,deadline/* withDeadline */.NE)("A PostgreSQL query", SHORT_QUERY_TIMEOUT_MS, (s) => {
        const cut = () => destroyClient(client);
        s.addEventListener("abort", cut, { once: true });
        return client.query(sql).finally(() => s.removeEventListener("abort", cut));
    }, { signal });
}
/** node-postgres client options for the same target libpq programs will reach. */
function clientConfig(settings) {
    const timeout = Number(settings.params.connect_timeout ?? process.env.PGCONNECT_TIMEOUT);
    const sslmode = settings.params.sslmode ?? process.env.PGSSLMODE;
    return {
        ...(settings.host !== undefined ? { host: settings.host } : {}),
        ...(settings.port !== undefined ? { port: settings.port } : {}),
        ...(settings.user !== undefined ? { user: settings.user } : {}),
        ...(settings.password !== undefined ? { password: settings.password } : {}),
        ...(settings.database !== undefined ? { database: settings.database } : {}),
        ...(settings.params.application_name ? { application_name: settings.params.application_name } : {}),
        ...(sslmode && sslmode !== "disable" && sslmode !== "allow" && sslmode !== "prefer"
            ? { ssl: { rejectUnauthorized: sslmode === "verify-ca" || sslmode === "verify-full" } }
            : {}),
        connectionTimeoutMillis: 1000 * (timeout > 0 ? timeout : DEFAULT_CONNECT_TIMEOUT_SECONDS),
    };
}
/**
 * Opens a connected client; a connection failure becomes a UserError that says what to check. The
 * connection (startup and login included) is bounded by connect_timeout / PGCONNECT_TIMEOUT (10 s by
 * default) and ends at once when `signal` (the run's) fires.
 */
async function connectClient(settings, applicationName, signal) {
    const config = clientConfig(settings);
    const client = new esm.Client({
        ...config,
        ...(applicationName ? { application_name: applicationName } : {}),
    });
    // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
    client.on("error", () => { });
    const target = describeTarget(settings);
    try {
        await (0,deadline/* withDeadline */.NE)(`Connecting to PostgreSQL at ${target}`, 
        // node-postgres's own timer ends it first, with its own error; this is the backstop.
        (config.connectionTimeoutMillis ?? DEFAULT_CONNECT_TIMEOUT_SECONDS * 1000) + 1000, async (s) => {
            s.addEventListener("abort", () => destroyClient(client), { once: true });
            await client.connect();
        }, { signal });
    }
    catch (err) {
        await closeClient(client);
        if (signal?.aborted)
            throw (0,deadline/* abortReason */.Js)(signal);
        throw connectionError(err, target);
    }
    return client;
}
/** Opens a client, runs `fn`, and always closes it. Connection failures become a UserError. */
async function withClient(settings, fn, signal) {
    const client = await connectClient(settings, undefined, signal);
    try {
        return await fn(client);
    }
    finally {
        await closeClient(client);
    }
}
/** Connects once before dumping: proves the credentials and learns the server's version. */
async function inspectServer(settings, signal) {
    return withClient(settings, async (client) => {
        const { rows } = await shortQuery(client, `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              current_database() AS db,
              pg_database_size(current_database())::text AS size`, signal);
        const row = rows[0];
        const versionNum = Number(row.num);
        return {
            version: row.version,
            versionNum,
            major: Math.floor(versionNum / 10000),
            database: row.db,
            databaseSizeBytes: Number(row.size),
        };
    }, signal);
}

;// CONCATENATED MODULE: ./src/db/snapshot.ts



/** How a backup's manifest counts rows: exactly (COPY rows as they stream), from statistics, or not at all. */
const ROW_COUNT_MODES = ["exact", "estimated", "off"];
/** The catalog of a backup whose catalog query failed: recorded as such, never invented. */
function unreadableCatalog(snapshot, err) {
    return {
        snapshot,
        schemas: [],
        tables: [],
        sequences: [],
        extensions: [],
        rowCounts: "off",
        rowCountSource: "none",
        error: err.message ?? String(err),
    };
}
const USER_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg_temp_%' AND n.nspname NOT LIKE 'pg_toast_temp_%'`;
const NOT_EXTENSION_MEMBER = `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;
/**
 * A repeatable-read transaction whose snapshot is exported for `pg_dump --snapshot`: the catalog and
 * row counts read in it describe exactly the data the dump contains. Keep it open until pg_dump is done.
 * The exporting transaction runs nothing after the export: the catalog is read on a second connection
 * that imports the same snapshot, so no failed catalog query can abort the transaction pg_dump needs.
 */
class ExportedSnapshot {
    client;
    settings;
    id;
    constructor(client, settings, id) {
        this.client = client;
        this.settings = settings;
        this.id = id;
    }
    static async open(settings, signal) {
        const client = await connectClient(settings, "lifeline-snapshot", signal);
        try {
            await beginRepeatableRead(client);
            const { rows } = await shortQuery(client, "SELECT pg_export_snapshot() AS id", signal);
            return new ExportedSnapshot(client, settings, rows[0].id);
        }
        catch (err) {
            await closeClient(client);
            throw err;
        }
    }
    /**
     * Reads the catalog (row counts per `mode`) and the database's own properties in the snapshot, on a
     * connection of their own. A failure is recorded in the result (`error`), never thrown.
     */
    async describe(mode) {
        let reader;
        try {
            reader = await connectClient(this.settings, "lifeline-catalog");
        }
        catch (err) {
            return { catalog: unreadableCatalog(this.id, err), database: unreadableProperties(err) };
        }
        try {
            await beginRepeatableRead(reader);
            await reader.query(`SET TRANSACTION SNAPSHOT ${literal(this.id)}`);
            // Each read in a savepoint: a failed catalog query leaves the properties readable, and vice versa.
            const catalog = await inSavepoint(reader, () => readCatalog(reader, mode, this.id)).catch((err) => unreadableCatalog(this.id, err));
            const database = await inSavepoint(reader, () => readDatabaseProperties(reader)).catch(unreadableProperties);
            return { catalog, database };
        }
        catch (err) {
            return { catalog: unreadableCatalog(this.id, err), database: unreadableProperties(err) };
        }
        finally {
            await shortQuery(reader, "COMMIT").catch(() => { });
            await closeClient(reader);
        }
    }
    async close() {
        await shortQuery(this.client, "COMMIT").catch(() => { });
        await closeClient(this.client);
    }
}
const literal = (s) => `'${s.replace(/'/g, "''")}'`;
async function beginRepeatableRead(client) {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    // Like pg_dump's own session: a role's statement or idle-in-transaction timeout must not end this
    // transaction (it holds the exported snapshot) nor cut a long count(*) short.
    await client.query("SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0");
}
async function inSavepoint(client, fn) {
    await client.query("SAVEPOINT lifeline_read");
    try {
        const result = await fn();
        await client.query("RELEASE SAVEPOINT lifeline_read");
        return result;
    }
    catch (err) {
        await client.query("ROLLBACK TO SAVEPOINT lifeline_read");
        throw err;
    }
}
function unreadableProperties(err) {
    return {
        owner: "",
        encoding: "",
        collate: "",
        ctype: "",
        connectionLimit: -1,
        acl: null,
        comment: null,
        settings: [],
        error: err.message ?? String(err),
    };
}
/**
 * Rows of `SELECT count(*)` on a table. A name that is not UTF-8 cannot be sent in a query's text (the
 * client speaks UTF-8), so such a table is counted by oid in a DO block, its name quoted by the server.
 */
async function countRows(client, table) {
    const schema = Buffer.from(table.schema, "hex");
    const relname = Buffer.from(table.relname, "hex");
    if (!needsRawName(schema) && !needsRawName(relname)) {
        const { rows } = await client.query(`SELECT count(*)::text AS n FROM ONLY ${quoteIdent(displayName(schema))}.${quoteIdent(displayName(relname))}`);
        return Number(rows[0].n);
    }
    const results = (await client.query(`DO $lifeline$ DECLARE n bigint; BEGIN
       EXECUTE format('SELECT count(*) FROM ONLY %s', ${Number(table.oid)}::oid::regclass) INTO n;
       PERFORM set_config('lifeline.row_count', n::text, true);
     END $lifeline$;
     SELECT current_setting('lifeline.row_count') AS n`));
    return Number(results[1].rows[0].n);
}
const quoteIdent = (id) => `"${id.replace(/"/g, '""')}"`;
/**
 * Reads schemas, tables (with row counts per `mode`), sequences and extensions as `client` sees them:
 * in a dump's snapshot when taking a backup, in the restored database when proving a restore. Names
 * are read as bytes, so that a name which is not UTF-8 is recorded (and compared) exactly.
 */
async function readCatalog(client, mode, snapshot) {
    const q = async (sql) => (await client.query(sql)).rows;
    const [{ encoding } = { encoding: "UTF8" }] = await q("SELECT getdatabaseencoding() AS encoding");
    const rawNames = {};
    const nameOf = (hex) => {
        const bytes = Buffer.from(hex, "hex");
        const name = displayName(bytes);
        if (needsRawName(bytes))
            rawNames[name] = hex;
        return name;
    };
    const schemas = (await q(`SELECT ${hexOfName("n.nspname", encoding)} AS s FROM pg_namespace n WHERE ${USER_SCHEMAS} ORDER BY n.nspname`)).map((r) => nameOf(r.s));
    const tableRows = await q(`SELECT c.oid::text AS oid, ${hexOfName("n.nspname || '.' || c.relname", encoding)} AS name,
            ${hexOfName("n.nspname", encoding)} AS schema, ${hexOfName("c.relname", encoding)} AS relname,
            c.reltuples::bigint::text AS estimate
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname`);
    const tables = [];
    for (const t of tableRows) {
        let rows = null;
        if (mode === "exact")
            rows = await countRows(client, t);
        else if (mode === "estimated") {
            rows = Number(t.estimate) >= 0 ? Number(t.estimate) : null; // -1: never analysed
        }
        tables.push({ name: nameOf(t.name), rows });
    }
    const sequences = (await q(`SELECT ${hexOfName("n.nspname || '.' || c.relname", encoding)} AS s
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'S' AND ${USER_SCHEMAS} AND ${NOT_EXTENSION_MEMBER} ORDER BY n.nspname, c.relname`)).map((r) => nameOf(r.s));
    const extensions = await q("SELECT extname AS name, extversion AS version FROM pg_extension ORDER BY 1");
    const rowCountSource = mode === "exact" ? "count(*) in snapshot" : mode === "estimated" ? "planner statistics" : "none";
    return {
        snapshot,
        schemas,
        tables,
        sequences,
        extensions,
        ...(Object.keys(rawNames).length ? { rawNames } : {}),
        rowCounts: mode,
        rowCountSource,
    };
}

// EXTERNAL MODULE: external "node:child_process"
var external_node_child_process_ = __nccwpck_require__(1421);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __nccwpck_require__(7075);
// EXTERNAL MODULE: external "node:zlib"
var external_node_zlib_ = __nccwpck_require__(8522);
var external_node_zlib_default = /*#__PURE__*/__nccwpck_require__.n(external_node_zlib_);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __nccwpck_require__(6760);
var external_node_path_default = /*#__PURE__*/__nccwpck_require__.n(external_node_path_);
;// CONCATENATED MODULE: ./src/process/child-stage.ts


const STDERR_LIMIT = 16 * 1024;
class ChildStageError extends Error {
    name = "ChildStageError";
}
/** What every child may see: where programs and files are, the locale, the terminal, gpg's home. */
const BASE_VARIABLES = new Set([
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TMP",
    "TEMP",
    "TERM",
    "GNUPGHOME",
    "GPG_TTY",
    "LD_LIBRARY_PATH",
    "DYLD_LIBRARY_PATH",
    "ZSTD_CLEVEL",
    "ZSTD_NBTHREADS",
]);
const BASE_PATTERNS = [/^LC_[A-Z_]+$/, /^XDG_[A-Z_]+$/];
/** libpq's documented environment variables (https://www.postgresql.org/docs/current/libpq-envars.html). */
const LIBPQ_VARIABLES = new Set([
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGDATABASE",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGAPPNAME",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGSSLNEGOTIATION",
    "PGSSLCOMPRESSION",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGSSLCERTMODE",
    "PGSSLROOTCERT",
    "PGSSLCRL",
    "PGSSLCRLDIR",
    "PGSSLSNI",
    "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION",
    "PGSSLMAXPROTOCOLVERSION",
    "PGGSSENCMODE",
    "PGKRBSRVNAME",
    "PGGSSLIB",
    "PGGSSDELEGATION",
    "PGCONNECT_TIMEOUT",
    "PGCLIENTENCODING",
    "PGTARGETSESSIONATTRS",
    "PGLOADBALANCEHOSTS",
    "PGCHANNELBINDING",
    "PGREQUIREAUTH",
    "PGMINPROTOCOLVERSION",
    "PGMAXPROTOCOLVERSION",
    "PGDATESTYLE",
    "PGTZ",
    "PGGEQO",
    "PGSYSCONFDIR",
    "PGLOCALEDIR",
    // Kerberos (GSSAPI authentication)
    "KRB5CCNAME",
    "KRB5_CONFIG",
    "KRB5_KTNAME",
]);
/** A URL with credentials in it: `scheme://user:password@`. */
const URL_WITH_CREDENTIALS = /[a-z][a-z0-9+.-]*:\/\/[^/?#@\s:]*:[^\s]*@/i;
/** The kind of a program by its name: libpq's programs by name, anything else a "tool". */
function childKindOf(command) {
    return /^(pg_[a-z]+|psql|postgres|initdb|createdb|dropdb|vacuumdb|reindexdb|clusterdb)$/.test(external_node_path_default().basename(command))
        ? "libpq"
        : "tool";
}
/**
 * The environment a child program of `kind` is started with: from `env` (by default Lifeline's own),
 * only the variables that kind may see (ChildKind), and none whose value holds URL credentials. Every
 * child start goes through here.
 */
function childEnvironment(env = process.env, kind = "tool") {
    const out = {};
    for (const [name, value] of Object.entries(env)) {
        if (value === undefined)
            continue;
        const allowed = BASE_VARIABLES.has(name) ||
            BASE_PATTERNS.some((rule) => rule.test(name)) ||
            (kind === "libpq" && LIBPQ_VARIABLES.has(name));
        if (!allowed || URL_WITH_CREDENTIALS.test(value))
            continue;
        out[name] = value;
    }
    return out;
}
/**
 * Starts `command` with the given environment (secrets go there, never into argv), less what its kind
 * of program does not need (childEnvironment, the kind told by the command's name). The child's stderr
 * is kept (last 16 KiB) so that a failure is reported in the program's own words.
 */
function startChildStage(label, command, args, 
/** stdin: true for a pipe we write; a pipe-backed Readable (another child's stdout) to connect directly. */
/** fds: descriptors the child inherits as its fd 3, 4, ... (e.g. a file it must read as already opened). */
options = {}) {
    const stdin = options.stdin === true ? "pipe" : options.stdin ? options.stdin : "ignore";
    const child = (0,external_node_child_process_.spawn)(command, [...args], {
        env: childEnvironment(options.env, childKindOf(command)),
        stdio: [stdin, "pipe", "pipe", ...(options.fds ?? [])],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (text) => {
        stderr = (stderr + text).slice(-STDERR_LIMIT);
    });
    // EPIPE on stdin when the child dies early is reported through `exited`, not as a crash.
    child.stdin?.on("error", () => { });
    const exited = new Promise((resolve, reject) => {
        child.once("error", (err) => reject(new ChildStageError(`Could not start ${label} (${command}): ${err.message}`, { cause: err })));
        child.once("close", (code, signal) => {
            if (code === 0)
                return resolve();
            const said = stderr.trim().split("\n").slice(-5).join(" | ");
            const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
            reject(new ChildStageError(`${label} ${how}${said ? `: ${said}` : ""}`));
        });
    });
    exited.catch(() => { }); // observed by the caller; never an unhandled rejection
    return {
        stdin: child.stdin,
        stdout: child.stdout,
        exited,
        stderr: () => stderr,
        kill: () => {
            if (child.exitCode === null && child.signalCode === null)
                child.kill("SIGTERM");
        },
    };
}

// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __nccwpck_require__(8161);
;// CONCATENATED MODULE: ./src/stream/parallel-gzip.ts



/** Input block compressed as one gzip member; 1 MiB keeps the ratio within ~1% of a single stream. */
const DEFAULT_BLOCK_SIZE = 1 << 20;
/** RFC 1952 member header: magic, deflate, no flags, no mtime, no extra flags, OS "Unix". */
const MEMBER_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
/**
 * One reusable raw-deflate context. Reusing it (Z_FINISH, then reset) instead of a fresh zlib.gzip()
 * per block matters for memory: each fresh context's native state is freed only when its JS handle is
 * garbage-collected, and those handles outlive young-generation GCs — measured, 132 → 76 MB peak RSS.
 */
class DeflateSlot {
    deflate;
    closed = false;
    constructor(level) {
        this.deflate = external_node_zlib_default().createDeflateRaw({ level, chunkSize: 128 << 10 });
    }
    /** Compresses `block` as one complete gzip member (header, deflate stream, CRC-32, size). */
    compress(block) {
        return new Promise((resolve, reject) => {
            if (this.closed)
                return reject(new Error("gzip slot closed: the stream was destroyed"));
            const chunks = [MEMBER_HEADER];
            const onData = (chunk) => chunks.push(chunk);
            this.deflate.on("data", onData);
            this.deflate.once("error", reject);
            this.deflate.write(block);
            this.deflate.flush((external_node_zlib_default()).constants.Z_FINISH, () => {
                this.deflate.off("data", onData);
                this.deflate.off("error", reject);
                // Destroyed mid-block (e.g. the disk filled up): the context is gone, and so is this member.
                if (this.closed)
                    return reject(new Error("gzip slot closed: the stream was destroyed"));
                this.deflate.reset();
                const trailer = Buffer.allocUnsafe(8);
                trailer.writeUInt32LE(external_node_zlib_default().crc32(block), 0);
                trailer.writeUInt32LE(block.length >>> 0, 4);
                chunks.push(trailer);
                resolve(Buffer.concat(chunks));
            });
        });
    }
    close() {
        if (this.closed)
            return;
        this.closed = true;
        this.deflate.close();
    }
}
/**
 * gzip at pigz speed without pigz: the input is cut into blocks, each compressed as an independent
 * gzip member on the thread pool, and the members are written in order. Concatenated members are one
 * valid .gz file (RFC 1952 §2.2) that stock gunzip, zcat and gzip -t read. Memory stays bounded at
 * about concurrency × 2 × blockSize; a slow reader holds back the writer.
 */
class ParallelGzip extends external_node_stream_.Transform {
    blockSize;
    concurrency;
    slots;
    pending = [];
    pendingBytes = 0;
    inFlight = [];
    submitted = 0;
    emittedAny = false;
    constructor(options) {
        super();
        if (!Number.isInteger(options.level) || options.level < 0 || options.level > 9) {
            throw new RangeError(`gzip level must be a whole number from 0 to 9, got ${options.level}`);
        }
        this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
        this.concurrency = options.concurrency ?? Math.max(2, (0,external_node_os_.availableParallelism)() + 1);
        this.slots = Array.from({ length: this.concurrency }, () => new DeflateSlot(options.level));
    }
    _transform(chunk, _encoding, done) {
        this.pending.push(chunk);
        this.pendingBytes += chunk.length;
        this.drainFullBlocks().then(() => done(), done);
    }
    _flush(done) {
        (async () => {
            await this.drainFullBlocks();
            // An empty input still yields one (empty) member, so the output is a valid .gz file.
            if (this.pendingBytes > 0 || (!this.emittedAny && this.inFlight.length === 0)) {
                await this.submit(this.takeBlock(this.pendingBytes));
            }
            while (this.inFlight.length > 0)
                this.emitMember(await this.inFlight.shift());
            this.closeSlots();
        })().then(() => done(), done);
    }
    _destroy(error, callback) {
        this.closeSlots();
        callback(error);
    }
    closeSlots() {
        for (const slot of this.slots)
            slot.close();
    }
    async drainFullBlocks() {
        while (this.pendingBytes >= this.blockSize)
            await this.submit(this.takeBlock(this.blockSize));
    }
    takeBlock(size) {
        const all = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes);
        const block = all.subarray(0, size);
        const rest = all.subarray(size);
        this.pending = rest.length > 0 ? [Buffer.from(rest)] : [];
        this.pendingBytes = rest.length;
        return block;
    }
    async submit(block) {
        // Blocks take slots in turn; block n's slot was last used by block n − concurrency, which has
        // been emitted before this submit (at most `concurrency` blocks are ever in flight).
        const job = this.slots[this.submitted++ % this.concurrency].compress(block);
        job.catch(() => { }); // awaited in order below; this only keeps an early failure from going unhandled
        this.inFlight.push(job);
        while (this.inFlight.length >= this.concurrency)
            this.emitMember(await this.inFlight.shift());
    }
    emitMember(member) {
        this.emittedAny = true;
        this.push(member);
    }
}

;// CONCATENATED MODULE: ./src/stream/compression.ts






const COMPRESSIONS = ["gzip", "zstd", "none"];
const FORMATS = ["plain", "custom"];
/** Valid levels and the default for each compression. */
const LEVELS = {
    gzip: { min: 1, max: 9, default: 6 },
    zstd: { min: 1, max: 19, default: 3 },
    none: { min: 0, max: 0, default: 0 },
};
/** Whether this Node has zstd in zlib (22.15+, 23.8+; always on the node24 action runtime). */
const hasZstd = typeof (external_node_zlib_default()).createZstdCompress === "function";
const installed = new Map();
/** Whether a program runs here (`<name> --version` exits 0); probed once per name. */
function hasProgram(name) {
    let found = installed.get(name);
    if (found === undefined) {
        try {
            (0,external_node_child_process_.execFileSync)(name, ["--version"], { stdio: "ignore", timeout: 5000, env: childEnvironment() });
            found = true;
        }
        catch {
            found = false;
        }
        installed.set(name, found);
    }
    return found;
}
const hasZstdBinary = () => hasProgram("zstd");
/**
 * Compressor for the plain-format stream. gzip: independent members compressed in parallel on the
 * thread pool. zstd: the zstd program with `threads` workers when installed — Node's own zstd loses
 * data-end flushes when multithreaded (ERR_STREAM_PUSH_AFTER_EOF), so it is only the single-threaded
 * fallback.
 */
function createCompressor(compression, level, threads) {
    switch (compression) {
        case "gzip":
            return { stream: new ParallelGzip({ level }), description: `gzip -${level}, parallel members` };
        case "zstd": {
            if (hasZstdBinary()) {
                const child = startChildStage("zstd", "zstd", ["-q", `-${level}`, `-T${threads}`, "-c"], {
                    stdin: true,
                });
                return {
                    stream: external_node_stream_.Duplex.from({ writable: child.stdin, readable: child.stdout }),
                    child,
                    description: `zstd -${level} -T${threads}`,
                };
            }
            if (!hasZstd) {
                throw new shared_errors/* UserError */.yo(`Compression zstd needs the zstd program (apt-get install zstd) or Node.js 22.15+ (this is ${process.version})`);
            }
            const stream = external_node_zlib_default().createZstdCompress({
                params: { [(external_node_zlib_default()).constants.ZSTD_c_compressionLevel]: level, [(external_node_zlib_default()).constants.ZSTD_c_checksumFlag]: 1 },
            });
            return { stream, description: `zstd -${level} (Node, single-threaded: install zstd for more)` };
        }
        case "none":
            return { stream: new external_node_stream_.PassThrough(), description: "none" };
    }
}
/** Decompressor matching a file's compression, for verification. */
function createDecompressor(compression) {
    switch (compression) {
        case "gzip":
            return external_node_zlib_default().createGunzip();
        case "zstd":
            if (!hasZstd)
                throw new shared_errors/* UserError */.yo(`Reading zstd needs Node.js 22.15 or newer (this is ${process.version})`);
            return external_node_zlib_default().createZstdDecompress();
        case "none":
            return new external_node_stream_.PassThrough();
    }
}
/**
 * The program that decompresses fastest here, reading stdin and writing stdout, for restores: the
 * child's stdout can feed psql through a kernel pipe, so decompressed data never passes through Node.
 * pigz decompresses with helper threads for reading, writing and checking; zstd is fast alone.
 * Undefined for `none`, or when no program is installed (then use `createDecompressor`).
 */
function decompressorProgram(compression) {
    if (compression === "gzip") {
        if (hasProgram("pigz"))
            return { command: "pigz", args: ["-dc"] };
        if (hasProgram("gzip"))
            return { command: "gzip", args: ["-dc"] };
    }
    if (compression === "zstd" && hasZstdBinary())
        return { command: "zstd", args: ["-dcq"] };
    return undefined;
}
/** The file extension of a backup: the runbook's .sql.gz, or .sql.zst, .sql, .dump (custom format). */
function extensionFor(format, compression) {
    if (format === "custom")
        return "dump";
    return compression === "gzip" ? "sql.gz" : compression === "zstd" ? "sql.zst" : "sql";
}
/** The compression of a file, from its extension; custom-format dumps compress inside. */
function compressionOfExtension(extension) {
    return extension === "sql.gz" ? "gzip" : extension === "sql.zst" ? "zstd" : "none";
}
/**
 * zstd reading straight from another process's stdout through a kernel pipe, as `pg_dump | zstd` does:
 * the raw dump never passes through Node. `-vv` makes zstd report the exact byte counts on stderr.
 * Undefined when the zstd program is not installed.
 */
function startDirectZstd(source, level, threads) {
    if (!hasZstdBinary())
        return undefined;
    const child = startChildStage("zstd", "zstd", ["-vv", "--no-progress", `-${level}`, `-T${threads}`, "-c"], {
        stdin: source,
    });
    // zstd holds its own duplicate of the pipe now; Node's copy would never be read, and an open stdio
    // stream keeps pg_dump's 'close' event from ever firing.
    source.destroy();
    return {
        child,
        description: `zstd -${level} -T${threads}, reading pg_dump directly`,
        inputBytes: () => parseZstdInputBytes(child.stderr()),
    };
}
/**
 * The input size from zstd's own summary line: `(1249332491 B => 67180555 B, …)` with -vv in 1.5.x,
 * `(1249332491 => 67180555 bytes, …)` in 1.4.x. Undefined when neither is found.
 */
function parseZstdInputBytes(report) {
    const m = /\(\s*(\d+)(?: B)? =>\s*\d+(?: B| bytes)/.exec(report);
    return m ? Number(m[1]) : undefined;
}

;// CONCATENATED MODULE: ./src/storage/storage-classes.ts
/** Storage classes / access tiers each provider accepts (kept apart so config does not load the SDKs). */
const S3_STORAGE_CLASSES = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];
const GCS_STORAGE_CLASSES = ["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"];
const AZURE_TIERS = ["Hot", "Cool", "Cold", "Archive"];

// EXTERNAL MODULE: ./src/storage/transfer.ts
var storage_transfer = __nccwpck_require__(8130);
;// CONCATENATED MODULE: ./src/config/settings.ts


/**
 * The command line's names: the runbook's environment variables and the CLI's flags (the kebab-case
 * input names), a boolean one a bare switch. Also what a bare environment lookup speaks, since outside
 * an action the environment is the runbook's and the flags are the other way to set it.
 */
const COMMAND_LINE_NAMES = {
    name: (spec) => `--${spec.input}`,
    ways: (spec) => `--${spec.input} or the environment variable ${spec.env}`,
    label: (spec) => `${spec.env} (--${spec.input})`,
    enable: (spec) => `add --${spec.input}`,
};
/** The names a lookup's errors use. */
function namesOf(lookup) {
    return lookup.names ?? COMMAND_LINE_NAMES;
}
/** A lookup that names its settings in `names`' words. */
function withNames(names, find) {
    return Object.assign((spec) => find(spec), { names });
}
/**
 * The setting as the user gave it, to point at a value that is set ("--prefix", "BACKUP_PREFIX"),
 * else by its label in this caller's words.
 */
function givenAs(spec, lookup) {
    return lookup(spec)?.source ?? namesOf(lookup).label(spec);
}
/** Looks a setting up in an environment by its runbook variable name. */
function environmentLookup(env, names = COMMAND_LINE_NAMES) {
    return withNames(names, (spec) => {
        const value = env[spec.env];
        return value === undefined || value === "" ? undefined : { value, source: spec.env };
    });
}
/**
 * Tries each lookup in turn: e.g. action input first, then the runbook's environment variable. Its
 * errors speak the first lookup's names (the adapter's own source comes first).
 */
function firstOf(...lookups) {
    const names = lookups.find((l) => l.names !== undefined)?.names ?? COMMAND_LINE_NAMES;
    return withNames(names, (spec) => {
        for (const lookup of lookups) {
            const found = lookup(spec);
            if (found)
                return found;
        }
        return undefined;
    });
}
/** Resolves one setting: the value found, else the default, else undefined. */
function resolve(spec, lookup) {
    const found = lookup(spec);
    if (found)
        return spec.parse(found.value.trim(), found.source);
    if (spec.default !== undefined)
        return spec.parse(spec.default, `default of ${spec.env}`);
    return undefined;
}
/**
 * Resolves a setting that must be present, failing with a message that names every way this caller can
 * set it (the lookup's names).
 */
function settings_require(spec, lookup, hint = "") {
    const value = resolve(spec, lookup);
    if (value === undefined) {
        const ways = namesOf(lookup).ways(spec);
        throw new shared_errors/* ConfigError */.xL(`${spec.env} is not set: set ${ways} (${spec.description})${hint}`);
    }
    return value;
}
const parseString = (raw) => raw;
const TRUE = new Set(["true", "1", "yes", "on"]);
const FALSE = new Set(["false", "0", "no", "off"]);
function parseBoolean(raw, source) {
    const value = raw.toLowerCase();
    if (TRUE.has(value))
        return true;
    if (FALSE.has(value))
        return false;
    throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected true or false`);
}
/** A parser for whole numbers in [min, max], e.g. retention counts or a compression level. */
function integerIn(min, max, unit = "") {
    return (raw, source) => {
        const value = Number(raw);
        if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
            throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a whole number from ${min} to ${max}${unit}`);
        }
        return value;
    };
}
/** A parser for one of a fixed set of words. */
function oneOf(choices) {
    return (raw, source) => {
        const value = raw.toLowerCase();
        if (!choices.includes(value)) {
            throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected one of: ${choices.join(", ")}`);
        }
        return value;
    };
}
/** Case-insensitive choice that returns the canonical spelling (GLACIER, Cool). */
function choiceOf(choices) {
    return (raw, source) => {
        const found = choices.find((c) => c.toLowerCase() === raw.toLowerCase());
        if (!found)
            throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected one of: ${choices.join(", ")}`);
        return found;
    };
}
/** A parser for http(s) URLs (trailing slashes dropped); the example goes into the error message. */
function httpUrl(example) {
    return (raw, source) => {
        try {
            const url = new URL(raw);
            if (url.protocol === "http:" || url.protocol === "https:")
                return raw.replace(/\/+$/, "");
        }
        catch { }
        // The URL may carry credentials (a Pushgateway's user:password@): never quoted in clear.
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${redactUrl(raw)}'. Expected an http(s) URL such as ${example}`);
    };
}

;// CONCATENATED MODULE: ./src/config/cloud-config.ts




const parseEndpoint = httpUrl("http://127.0.0.1:9000");
/** `backups/postgres` → `backups/postgres/`; an empty prefix means the bucket's top level. */
function parseKeyPrefix(raw, source) {
    const trimmed = raw.replace(/^\/+/, "");
    if (/(^|\/)\.\.?(\/|$)/.test(trimmed) || /\/\//.test(trimmed)) {
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a key prefix such as backups/postgres/`);
    }
    return trimmed === "" || trimmed.endsWith("/") ? trimmed : `${trimmed}/`;
}
function parseBucket(raw, source) {
    if (!/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/.test(raw)) {
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a bucket/container name: lower-case letters, digits, '.', '-' (no s3:// prefix)`);
    }
    return raw;
}
const CLOUD_SETTINGS = {
    s3Bucket: {
        env: "BACKUP_S3_BUCKET",
        input: "s3-bucket",
        description: "S3 bucket for off-site copies (credentials: the AWS SDK chain, e.g. AWS_* or a role)",
        parse: parseBucket,
    },
    s3StorageClass: {
        env: "BACKUP_S3_STORAGE_CLASS",
        input: "s3-storage-class",
        description: `S3 storage class: ${S3_STORAGE_CLASSES.join(", ")}`,
        default: "STANDARD",
        parse: choiceOf(S3_STORAGE_CLASSES),
    },
    s3Region: {
        env: "BACKUP_S3_REGION",
        input: "s3-region",
        description: "bucket region; default AWS_REGION / the profile's (us-east-1 with a custom endpoint)",
        parse: parseString,
    },
    s3Endpoint: {
        env: "BACKUP_S3_ENDPOINT",
        input: "s3-endpoint",
        description: "S3-compatible endpoint (MinIO, R2, Ceph); default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, else AWS",
        parse: parseEndpoint,
    },
    s3ForcePathStyle: {
        env: "BACKUP_S3_FORCE_PATH_STYLE",
        input: "s3-force-path-style",
        description: "path-style bucket addressing; default true with a custom endpoint, false for AWS",
        parse: parseBoolean,
    },
    gcsBucket: {
        env: "BACKUP_GCS_BUCKET",
        input: "gcs-bucket",
        description: "GCS bucket for off-site copies (credentials: GOOGLE_APPLICATION_CREDENTIALS or workload identity)",
        parse: parseBucket,
    },
    gcsStorageClass: {
        env: "BACKUP_GCS_STORAGE_CLASS",
        input: "gcs-storage-class",
        description: `GCS storage class: ${GCS_STORAGE_CLASSES.join(", ")}`,
        default: "STANDARD",
        parse: choiceOf(GCS_STORAGE_CLASSES),
    },
    gcsEndpoint: {
        env: "BACKUP_GCS_ENDPOINT",
        input: "gcs-endpoint",
        description: "GCS API endpoint override (an emulator); default STORAGE_EMULATOR_HOST (with or without /storage/v1)",
        parse: parseEndpoint,
    },
    azureContainer: {
        env: "BACKUP_AZURE_CONTAINER",
        input: "azure-container",
        description: "Azure Blob container for off-site copies (AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with a key, SAS or Entra ID)",
        parse: parseBucket,
    },
    azureTier: {
        env: "BACKUP_AZURE_TIER",
        input: "azure-tier",
        description: `Azure access tier: ${AZURE_TIERS.join(", ")}`,
        default: "Hot",
        parse: choiceOf(AZURE_TIERS),
    },
    azureAccount: {
        env: "AZURE_STORAGE_ACCOUNT",
        input: "azure-account",
        description: "storage account name, when no connection string is given",
        parse: parseString,
    },
    azureEndpoint: {
        env: "BACKUP_AZURE_ENDPOINT",
        input: "azure-endpoint",
        description: "blob service URL; default https://<account>.blob.core.windows.net",
        parse: parseEndpoint,
    },
    remotePrefix: {
        env: "BACKUP_REMOTE_PREFIX",
        input: "remote-prefix",
        description: "key prefix of backups in every bucket/container",
        default: "backups/postgres/",
        parse: parseKeyPrefix,
    },
    uploadPartSizeMb: {
        env: "BACKUP_UPLOAD_PART_SIZE_MB",
        input: "upload-part-size-mb",
        description: "multipart part / resumable chunk / block size in MiB; memory per upload ≈ size × (concurrency + 1)",
        default: "8",
        parse: integerIn(5, 512, " (MiB)"),
    },
    uploadConcurrency: {
        env: "BACKUP_UPLOAD_CONCURRENCY",
        input: "upload-concurrency",
        description: "parts in flight per upload",
        default: "2",
        parse: integerIn(1, 16),
    },
    networkTimeoutSeconds: {
        env: storage_transfer/* NETWORK_TIMEOUT_SETTING */.UQ,
        input: "network-timeout-seconds",
        description: "a request to a bucket or the Pushgateway that gets no answer this long fails; so does a whole listing page, sidecar, delete or download start, retries included",
        default: "120",
        parse: integerIn(1, 3600, " (seconds)"),
    },
    preflightTimeoutSeconds: {
        env: storage_transfer/* PREFLIGHT_TIMEOUT_SETTING */.bc,
        input: "preflight-timeout-seconds",
        description: "longest check of one destination before the dump (all are checked at once); one that does not answer in time is skipped and the local backup starts",
        default: "30",
        parse: integerIn(1, 3600, " (seconds)"),
    },
};
const firstSet = (env, ...names) => names.map((n) => env[n]).find((v) => v !== undefined && v !== "");
function azureAuth(lookup, env) {
    const s = CLOUD_SETTINGS;
    const connectionString = firstSet(env, "AZURE_STORAGE_CONNECTION_STRING");
    if (connectionString)
        return { kind: "connection-string", connectionString };
    const account = resolve(s.azureAccount, lookup);
    const endpoint = resolve(s.azureEndpoint, lookup);
    const names = namesOf(lookup);
    if (!account && !endpoint) {
        throw new shared_errors/* ConfigError */.xL(`${givenAs(s.azureContainer, lookup)} is set but no storage account is: set AZURE_STORAGE_CONNECTION_STRING, ` +
            `or ${names.label(s.azureAccount)} with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or an Entra ID sign-in`);
    }
    const url = endpoint ?? `https://${account}.blob.core.windows.net`;
    const key = firstSet(env, "AZURE_STORAGE_KEY");
    if (key) {
        if (!account) {
            throw new shared_errors/* ConfigError */.xL(`AZURE_STORAGE_KEY needs the name of its storage account: set ${names.ways(s.azureAccount)}`);
        }
        return { kind: "shared-key", account, key, url };
    }
    const sas = firstSet(env, "AZURE_STORAGE_SAS_TOKEN");
    if (sas)
        return { kind: "sas", url, sas };
    return { kind: "default-credential", url };
}
/** The configured cloud destinations (none, one or several), validated before any work. */
function loadDestinations(lookup, env = process.env) {
    const s = CLOUD_SETTINGS;
    const prefix = settings_require(s.remotePrefix, lookup);
    const transfer = {
        ...storage_transfer/* DEFAULT_TRANSFER */._M,
        partSizeBytes: settings_require(s.uploadPartSizeMb, lookup) * storage_transfer/* MIB */.D6,
        concurrency: settings_require(s.uploadConcurrency, lookup),
        requestTimeoutMs: settings_require(s.networkTimeoutSeconds, lookup) * 1000,
        preflightTimeoutMs: settings_require(s.preflightTimeoutSeconds, lookup) * 1000,
    };
    const destinations = [];
    const s3Bucket = resolve(s.s3Bucket, lookup);
    if (s3Bucket) {
        const endpoint = resolve(s.s3Endpoint, lookup) ??
            (() => {
                const fromEnv = firstSet(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
                return fromEnv ? parseEndpoint(fromEnv, "AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL") : undefined;
            })();
        destinations.push({
            kind: "s3",
            settings: {
                bucket: s3Bucket,
                prefix,
                storageClass: settings_require(s.s3StorageClass, lookup),
                region: resolve(s.s3Region, lookup),
                endpoint,
                // Custom endpoints (MinIO, Ceph) rarely have per-bucket DNS names.
                forcePathStyle: resolve(s.s3ForcePathStyle, lookup) ?? endpoint !== undefined,
                transfer,
            },
        });
    }
    const gcsBucket = resolve(s.gcsBucket, lookup);
    if (gcsBucket) {
        destinations.push({
            kind: "gcs",
            settings: {
                bucket: gcsBucket,
                prefix,
                storageClass: settings_require(s.gcsStorageClass, lookup),
                endpoint: resolve(s.gcsEndpoint, lookup) ??
                    (() => {
                        const host = firstSet(env, "STORAGE_EMULATOR_HOST");
                        if (!host)
                            return undefined;
                        const url = /^https?:\/\//.test(host) ? host : `http://${host}`;
                        return parseEndpoint(url.replace(/\/storage\/v1\/?$/, ""), "STORAGE_EMULATOR_HOST");
                    })(),
                projectId: firstSet(env, "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"),
                transfer,
            },
        });
    }
    const azureContainer = resolve(s.azureContainer, lookup);
    if (azureContainer) {
        destinations.push({
            kind: "azure",
            settings: {
                container: azureContainer,
                prefix,
                tier: settings_require(s.azureTier, lookup),
                auth: azureAuth(lookup, env),
                transfer,
            },
        });
    }
    return destinations;
}
/** Cloud secrets found in the environment, for masking before anything is logged. */
function cloudSecretsIn(env) {
    const secrets = [];
    for (const name of [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_SAS_TOKEN",
    ]) {
        const v = env[name];
        if (v)
            secrets.push(v);
    }
    const cs = env.AZURE_STORAGE_CONNECTION_STRING;
    if (cs) {
        for (const part of cs.split(";")) {
            const m = /^(AccountKey|SharedAccessSignature)=(.+)$/i.exec(part.trim());
            if (m?.[2])
                secrets.push(m[2]);
        }
    }
    return secrets;
}
/** The cloud settings that reading backups needs (no upload tuning, no storage classes). */
const CLOUD_READ_SETTINGS = {
    s3Bucket: CLOUD_SETTINGS.s3Bucket,
    s3Region: CLOUD_SETTINGS.s3Region,
    s3Endpoint: CLOUD_SETTINGS.s3Endpoint,
    s3ForcePathStyle: CLOUD_SETTINGS.s3ForcePathStyle,
    gcsBucket: CLOUD_SETTINGS.gcsBucket,
    gcsEndpoint: CLOUD_SETTINGS.gcsEndpoint,
    azureContainer: CLOUD_SETTINGS.azureContainer,
    azureAccount: CLOUD_SETTINGS.azureAccount,
    azureEndpoint: CLOUD_SETTINGS.azureEndpoint,
    remotePrefix: CLOUD_SETTINGS.remotePrefix,
    networkTimeoutSeconds: CLOUD_SETTINGS.networkTimeoutSeconds,
};
/**
 * The configured destinations for reading, and a way to reach any other bucket named by a URI
 * (`s3://other-bucket/path/x.sql.gz`) with the same endpoint and credential settings.
 */
function loadCloudReading(lookup, env = process.env) {
    const s = CLOUD_SETTINGS;
    const bucketSpec = { s3: s.s3Bucket, gcs: s.gcsBucket, azure: s.azureContainer };
    return {
        destinations: loadDestinations(lookup, env),
        destinationForUri: (kind, bucket, keyPrefix) => {
            const source = "the backup URI";
            const override = withNames(namesOf(lookup), (spec) => {
                if (spec.env === bucketSpec[kind].env)
                    return { value: bucket, source };
                if (spec.env === s.remotePrefix.env)
                    return { value: keyPrefix === "" ? "/" : keyPrefix, source };
                if (Object.values(bucketSpec).some((b) => b.env === spec.env))
                    return undefined;
                return lookup(spec);
            });
            const [destination] = loadDestinations(override, env);
            if (!destination)
                throw new shared_errors/* ConfigError */.xL(`Cannot open ${kind}://${bucket}/${keyPrefix}`);
            return destination;
        },
    };
}

;// CONCATENATED MODULE: ./src/config/backup-db-config.ts






/** Whether a name can start a backup file name that BackupName.parse reads back. */
function isValidPrefix(prefix) {
    return /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(prefix);
}

const WEEKDAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
function parseWeekday(raw, source) {
    const value = raw.toLowerCase();
    const index = /^[0-6]$/.test(value)
        ? Number(value)
        : WEEKDAYS.findIndex((d) => d === value || d.slice(0, 3) === value);
    if (index < 0)
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a day name (sunday..saturday) or 0-6`);
    return index;
}
function parseLabelValue(raw, source) {
    if (!/^[A-Za-z0-9_.:-]+$/.test(raw)) {
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Use letters, digits, '_', '.', ':' and '-'`);
    }
    return raw;
}
/** A public key setting must not hold a secret key: refused without quoting it (it is masked too). */
function parsePublicKey(raw, source) {
    if (SECRET_KEY_BLOCK.test(raw)) {
        throw new shared_errors/* ConfigError */.xL(`${source} holds a SECRET key block (BEGIN PGP PRIVATE KEY BLOCK): it was not used and is not shown. ` +
            "Give the recipient's public key only (gpg --armor --export <recipient>) and keep the secret key off the backup host");
    }
    return raw;
}
/** The settings of backup-db, named as in the runbook's backup_db.sh. */
const BACKUP_DB_SETTINGS = {
    databaseUrl: {
        env: "DATABASE_URL",
        input: "database-url",
        description: "PostgreSQL connection string, e.g. postgresql://user:password@host:5432/transcripts",
        parse: parseString,
    },
    backupDir: {
        env: "BACKUP_DIR",
        input: "backup-dir",
        description: "directory that holds daily/, weekly/, monthly/ and logs/",
        default: "/backups",
        parse: parseString,
    },
    prefix: {
        env: "BACKUP_PREFIX",
        input: "prefix",
        description: "first part of backup file names; defaults to the database name",
        parse: (raw, source) => {
            if (!isValidPrefix(raw)) {
                throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Use letters, digits, '.', '_' and '-' only`);
            }
            return raw;
        },
    },
    compression: {
        env: "BACKUP_COMPRESSION",
        input: "compression",
        description: "gzip (.sql.gz, the runbook's), zstd (.sql.zst) or none (.sql)",
        default: "gzip",
        parse: oneOf(COMPRESSIONS),
    },
    compressionLevel: {
        env: "BACKUP_COMPRESSION_LEVEL",
        input: "compression-level",
        description: "compression level: gzip 1-9 (default 6), zstd 1-19 (default 3)",
        parse: integerIn(0, 19),
    },
    format: {
        env: "BACKUP_FORMAT",
        input: "format",
        description: "plain (SQL, restored with psql) or custom (.dump, restored with pg_restore -j; compressed by pg_dump)",
        default: "plain",
        parse: oneOf(FORMATS),
    },
    pgBinDir: {
        env: "PG_BIN_DIR",
        input: "pg-bin-dir",
        description: "directory holding pg_dump; by default PATH and /usr/lib/postgresql/*/bin are searched",
        parse: parseString,
    },
    encrypt: {
        env: "BACKUP_ENCRYPT",
        input: "encrypt",
        description: "encrypt backups with GPG to the recipient's public key (.gpg suffix)",
        default: "false",
        parse: parseBoolean,
    },
    gpgRecipient: {
        env: "BACKUP_GPG_RECIPIENT",
        input: "gpg-recipient",
        description: "GPG recipient (key id, fingerprint or email) backups are encrypted to",
        parse: parseString,
    },
    gpgPublicKey: {
        env: "BACKUP_GPG_PUBLIC_KEY",
        input: "gpg-public-key",
        description: "recipient's public key, ASCII-armoured (e.g. from a secret); imported into a temporary keyring",
        parse: parsePublicKey,
    },
    retentionDaily: {
        env: "BACKUP_RETENTION_DAILY",
        input: "retention-daily",
        description: "days to keep daily backups",
        default: "7",
        parse: integerIn(1, 36500, " (days)"),
    },
    retentionWeekly: {
        env: "BACKUP_RETENTION_WEEKLY",
        input: "retention-weekly",
        description: "weeks to keep weekly backups",
        default: "4",
        parse: integerIn(1, 5200, " (weeks)"),
    },
    retentionMonthly: {
        env: "BACKUP_RETENTION_MONTHLY",
        input: "retention-monthly",
        description: "months to keep monthly backups",
        default: "12",
        parse: integerIn(1, 1200, " (months)"),
    },
    retentionDryRun: {
        env: "BACKUP_RETENTION_DRY_RUN",
        input: "retention-dry-run",
        description: "log and summarise the retention plan without deleting anything",
        default: "false",
        parse: parseBoolean,
    },
    weeklyDay: {
        env: "BACKUP_WEEKLY_DAY",
        input: "weekly-day",
        description: "day whose backup is also filed as weekly: sunday..saturday or 0-6",
        default: "sunday",
        parse: parseWeekday,
    },
    monthlyDay: {
        env: "BACKUP_MONTHLY_DAY",
        input: "monthly-day",
        description: "day of the month whose backup is also filed as monthly, 1-28",
        default: "1",
        parse: integerIn(1, 28),
    },
    rowCounts: {
        env: "BACKUP_ROW_COUNTS",
        input: "row-counts",
        description: "per-table row counts in the manifest, taken in the dump's snapshot: exact, estimated (statistics) or off",
        default: "exact",
        parse: oneOf(ROW_COUNT_MODES),
    },
    verifyOnly: {
        env: "BACKUP_VERIFY_ONLY",
        input: "verify-only",
        description: "check existing backups (sidecar, full decompress, gpg) instead of taking one",
        default: "false",
        parse: parseBoolean,
    },
    maxAgeHours: {
        env: "BACKUP_MAX_AGE_HOURS",
        input: "max-age-hours",
        description: "with verify-only: exit 2 when the newest daily backup is older than this, or none exists; weekly and monthly get 7 and 31 days more",
        default: "26",
        parse: integerIn(1, 87600, " (hours)"),
    },
    pushgatewayUrl: {
        env: "PUSHGATEWAY_URL",
        input: "pushgateway-url",
        description: "Prometheus Pushgateway to push metrics to, e.g. http://pushgateway:9091",
        parse: httpUrl("http://pushgateway:9091"),
    },
    pushgatewayJob: {
        env: "PUSHGATEWAY_JOB",
        input: "pushgateway-job",
        description: "job label of the pushed metrics",
        default: "lifeline",
        parse: parseLabelValue,
    },
    metricsTextfile: {
        env: "BACKUP_METRICS_TEXTFILE",
        input: "metrics-textfile",
        description: "also write the metrics to this node_exporter textfile (.prom), atomically",
        parse: parseString,
    },
    catchUpMaxFiles: {
        env: "BACKUP_CATCHUP_MAX_FILES",
        input: "catchup-max-files",
        description: "backups a destination is missing (a failed night's, a missed weekly/monthly) uploaded to it per run from BACKUP_DIR, newest first; 0 turns catch-up off",
        default: "10",
        parse: integerIn(0, 10_000),
    },
    catchUpMaxMb: {
        env: "BACKUP_CATCHUP_MAX_MB",
        input: "catchup-max-mb",
        description: "at most this many MiB of catch-up uploads per destination per run, so that making up cannot run into the job's time limit before the summary and metrics; 0: no byte bound",
        default: "10240",
        parse: integerIn(0, 100_000_000, " (MiB)"),
    },
    ...CLOUD_SETTINGS,
};
/** BACKUP_ENCRYPT with its recipient or public key, checked together: one without the other is refused. */
function loadEncryption(lookup) {
    const s = BACKUP_DB_SETTINGS;
    const names = namesOf(lookup);
    const given = (spec) => givenAs(spec, lookup);
    const encrypt = settings_require(s.encrypt, lookup);
    const recipient = resolve(s.gpgRecipient, lookup);
    const publicKey = resolve(s.gpgPublicKey, lookup);
    if (encrypt && recipient === undefined && publicKey === undefined) {
        throw new shared_errors/* ConfigError */.xL(`${given(s.encrypt)} is true but no recipient is given: set ${names.label(s.gpgRecipient)} to a key ` +
            `in the keyring, or give the public key in ${names.label(s.gpgPublicKey)}`);
    }
    if (!encrypt && (recipient !== undefined || publicKey !== undefined)) {
        const set = [s.gpgRecipient, s.gpgPublicKey].filter((spec) => lookup(spec));
        throw new shared_errors/* ConfigError */.xL(`A GPG recipient or public key is set (${set.map(given).join(", ")}) but BACKUP_ENCRYPT is not true: ` +
            `${names.enable(s.encrypt)} to encrypt, or remove ${set.map(given).join(" and ")}`);
    }
    return encrypt ? { recipient, publicKey } : undefined;
}
/** Reads and validates every backup-db setting up front, so that a bad one fails before any work. */
function loadBackupDbConfig(lookup, env = process.env) {
    const s = BACKUP_DB_SETTINGS;
    const names = namesOf(lookup);
    const given = (spec) => givenAs(spec, lookup);
    const rawUrl = settings_require(s.databaseUrl, lookup);
    const connection = parseDatabaseUrl(rawUrl, lookup(s.databaseUrl)?.source);
    const compression = settings_require(s.compression, lookup);
    const format = settings_require(s.format, lookup);
    const range = LEVELS[compression];
    const level = resolve(s.compressionLevel, lookup);
    if (level !== undefined && (level < range.min || level > range.max)) {
        const where = given(s.compressionLevel);
        throw new shared_errors/* ConfigError */.xL(compression === "none"
            ? `Invalid ${where} '${level}': compression is none, so no level applies; unset it`
            : `Invalid ${where} '${level}'. Expected a whole number from ${range.min} to ${range.max} for ${compression}`);
    }
    if (format === "custom" && compression === "zstd") {
        throw new shared_errors/* ConfigError */.xL(`${given(s.format)} 'custom' with ${given(s.compression)} 'zstd' is not supported: custom-format dumps are compressed by ` +
            "pg_dump itself (gzip); use compression gzip or none with the custom format, or the plain format for zstd");
    }
    const encryption = loadEncryption(lookup);
    return {
        connection,
        backupDir: settings_require(s.backupDir, lookup),
        prefix: resolve(s.prefix, lookup),
        format,
        compression,
        compressionLevel: level ?? range.default,
        pgBinDir: resolve(s.pgBinDir, lookup),
        encryption,
        retention: {
            daily: settings_require(s.retentionDaily, lookup),
            weekly: settings_require(s.retentionWeekly, lookup),
            monthly: settings_require(s.retentionMonthly, lookup),
        },
        retentionDryRun: settings_require(s.retentionDryRun, lookup),
        schedule: { weeklyDay: settings_require(s.weeklyDay, lookup), monthlyDay: settings_require(s.monthlyDay, lookup) },
        rowCounts: settings_require(s.rowCounts, lookup),
        verifyOnly: settings_require(s.verifyOnly, lookup),
        maxAgeHours: settings_require(s.maxAgeHours, lookup),
        metrics: {
            pushgatewayUrl: resolve(s.pushgatewayUrl, lookup),
            job: settings_require(s.pushgatewayJob, lookup),
            textfile: resolve(s.metricsTextfile, lookup),
            timeoutMs: settings_require(s.networkTimeoutSeconds, lookup) * 1000,
        },
        destinations: loadDestinations(lookup, env),
        catchUp: {
            maxFiles: settings_require(s.catchUpMaxFiles, lookup),
            maxBytes: settings_require(s.catchUpMaxMb, lookup) * 1024 * 1024 || undefined,
        },
        settingLabel: (setting) => names.label(s[setting]),
    };
}
/** Whether the run only verifies existing backups (`--verify-only`); then no database is needed. */
function isVerifyOnly(lookup) {
    return settings_require(BACKUP_DB_SETTINGS.verifyOnly, lookup);
}
/** The settings `--verify-only` uses: where the backups are and how old the newest may be. */
function loadVerifyOnlyConfig(lookup) {
    const s = BACKUP_DB_SETTINGS;
    return {
        backupDir: settings_require(s.backupDir, lookup),
        prefix: resolve(s.prefix, lookup),
        maxAgeHours: settings_require(s.maxAgeHours, lookup),
    };
}
/**
 * Every credential the raw settings carry (DATABASE_URL's and PUSHGATEWAY_URL's passwords, PGPASSWORD,
 * cloud secrets, GPG secret keys), read before the settings are parsed, so that adapters can mask them
 * before anything is quoted. It does not depend on the URLs parsing: whatever is credential-shaped in
 * them is masked, and an unparsable value with nothing credential-shaped is masked whole.
 */
function credentialsIn(lookup, env = process.env) {
    const s = BACKUP_DB_SETTINGS;
    const found = [];
    const url = lookup(s.databaseUrl);
    if (url)
        found.push(...urlCredentials(url.value, (v) => parseDatabaseUrl(v, url.source).password));
    const gateway = lookup(s.pushgatewayUrl);
    if (gateway)
        found.push(...urlCredentials(gateway.value, (v) => void s.pushgatewayUrl.parse(v, gateway.source)));
    if (env.PGPASSWORD)
        found.push(env.PGPASSWORD);
    found.push(...cloudSecretsIn(env));
    const secretKey = lookup(GPG_PRIVATE_KEY_LOOKUP)?.value;
    if (secretKey)
        found.push(...keyBlockSecrets(secretKey));
    const publicKey = lookup(s.gpgPublicKey)?.value;
    if (publicKey && SECRET_KEY_BLOCK.test(publicKey))
        found.push(...keyBlockSecrets(publicKey));
    return found.filter((secret) => secret.trim() !== "");
}
/** Credential-shaped parts of a URL setting; the whole value when it does not parse and none is found. */
function urlCredentials(raw, parse) {
    const value = raw.trim();
    const found = passwordsIn(value);
    try {
        const password = parse(value);
        if (password)
            found.push(password);
    }
    catch {
        if (found.length === 0)
            found.push(value);
    }
    return found;
}
/** BACKUP_GPG_PRIVATE_KEY, as restore and verify read it (their settings table builds on this one). */
const GPG_PRIVATE_KEY_LOOKUP = {
    env: "BACKUP_GPG_PRIVATE_KEY",
    input: "gpg-private-key",
    description: "secret key to decrypt .gpg backups",
    parse: parseString,
};
const SECRET_KEY_BLOCK = /-----BEGIN PGP (PRIVATE|SECRET) KEY BLOCK-----/;
/**
 * An ASCII-armoured key, whole and line by line: a runner masks a multi-line secret only line by line.
 * Armour header lines and short lines (the checksum) are not secret.
 */
function keyBlockSecrets(block) {
    const lines = block
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line.length >= 16 && !line.startsWith("-----") && !/^[A-Za-z-]+: /.test(line));
    return [block.trim(), ...lines];
}

;// CONCATENATED MODULE: ./src/config/metrics-config.ts


/** Where a run's metrics go and how long a push may take, read with the run's other settings (throws on a malformed one). */
function metricsSettings(lookup) {
    const s = BACKUP_DB_SETTINGS;
    return {
        pushgatewayUrl: resolve(s.pushgatewayUrl, lookup),
        job: settings_require(s.pushgatewayJob, lookup),
        textfile: resolve(s.metricsTextfile, lookup),
        timeoutMs: settings_require(s.networkTimeoutSeconds, lookup) * 1000,
    };
}
/**
 * Where a run's metrics go, read on its own and before every other setting, and never throwing: a run
 * whose other settings fail to load can still record its failure. A destination whose own setting is
 * malformed is left out (the full configuration load then reports that setting).
 */
function metricsDestination(lookup) {
    const s = BACKUP_DB_SETTINGS;
    const attempt = (read) => {
        try {
            return read();
        }
        catch {
            return undefined;
        }
    };
    const job = attempt(() => settings_require(s.pushgatewayJob, lookup));
    return {
        pushgatewayUrl: job === undefined ? undefined : attempt(() => resolve(s.pushgatewayUrl, lookup)),
        job: job ?? "lifeline",
        textfile: attempt(() => resolve(s.metricsTextfile, lookup)),
    };
}

// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(3024);
;// CONCATENATED MODULE: ./src/shared/write-failure.ts

/**
 * Turns a failed write into advice that names the place and what to do: no space, no quota left, a
 * read-only filesystem, no permission. `where` names the place as the operator set it, e.g.
 * "BACKUP_DIR '/backups'"; `dir` is the directory to inspect; `writing` what was being written.
 * Any other error is returned unchanged.
 */
function describeWriteFailure(err, where, dir, writing) {
    const e = err;
    const advice = {
        ENOSPC: `No space left on the device of ${where} while writing ${writing}: free space (df -h ${dir}), e.g. by lowering the retention, then run again`,
        EDQUOT: `The disk quota of this user is exhausted on ${where} while writing ${writing}: free space or raise the quota (quota -s), then run again`,
        EROFS: `${where} is on a read-only filesystem (EROFS while writing ${writing}): remount it read-write, or point BACKUP_DIR elsewhere`,
        EACCES: `${where} is not writable by this user (EACCES while writing ${writing}): give it write access (e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
        EPERM: `${where} is not writable by this user (EPERM while writing ${writing}): give it write access (e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`,
    };
    const message = e?.code ? advice[e.code] : undefined;
    if (message)
        return new shared_errors/* UserError */.yo(message, { cause: err });
    return err instanceof Error ? err : new Error(String(err));
}
/** Whether an error is one `describeWriteFailure` explains (space, quota, read-only, permission). */
function isWriteFailure(err) {
    const code = err?.code;
    return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EACCES" || code === "EPERM";
}

;// CONCATENATED MODULE: ./src/log/logger.ts



/** Shorter secrets are not masked: masking "a" or "pw" would blank that text in every log line. */
const MIN_SECRET_LENGTH = 3;
/**
 * The engine's logger: every line goes to every sink, with registered secrets replaced by ***.
 * Redaction here is a second line of defence; secrets are kept out of messages in the first place.
 */
class Logger {
    sinks;
    secrets = new Set();
    constructor(...sinks) {
        this.sinks = sinks;
    }
    addSink(sink) {
        this.sinks.push(sink);
    }
    removeSink(sink) {
        const i = this.sinks.indexOf(sink);
        if (i >= 0)
            this.sinks.splice(i, 1);
        sink.close?.();
    }
    /** Registers a value that must never be written (a password, a token). */
    addSecret(secret) {
        if (secret && secret.length >= MIN_SECRET_LENGTH)
            this.secrets.add(secret);
    }
    redact(text) {
        let out = text;
        for (const secret of this.secrets) {
            out = out.split(secret).join("***");
            const encoded = encodeURIComponent(secret);
            if (encoded !== secret)
                out = out.split(encoded).join("***");
        }
        return out;
    }
    emit(level, message) {
        const at = new Date();
        const line = showControls(this.redact(message));
        const failed = [];
        for (const sink of [...this.sinks]) {
            try {
                sink.write(level, line, at);
            }
            catch (err) {
                // A sink that cannot be written (a log file on a full disk) is dropped, never the run.
                this.sinks.splice(this.sinks.indexOf(sink), 1);
                failed.push(err);
            }
        }
        for (const err of failed) {
            this.emit("warn", `${err.message}; that log stops here, the other logs go on`);
        }
    }
    debug(message) {
        this.emit("debug", message);
    }
    info(message) {
        this.emit("info", message);
    }
    warn(message) {
        this.emit("warn", message);
    }
    error(message) {
        this.emit("error", message);
    }
}
const formatLine = (level, message, at) => `${at.toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`;
/** Timestamped lines on a stream (stderr for the CLI, so stdout stays clean for data such as JSON). */
function streamSink(stream, minLevel = "info") {
    const order = ["debug", "info", "warn", "error"];
    return {
        write(level, message, at) {
            if (order.indexOf(level) >= order.indexOf(minLevel))
                stream.write(formatLine(level, message, at));
        },
    };
}
/**
 * Appends to a log file such as BACKUP_DIR/logs/backup_YYYYMMDD.log. Writes are synchronous so that a
 * crash still leaves every line before it on disk, in order.
 */
class FileSink {
    path;
    fd;
    constructor(path) {
        this.path = path;
        try {
            this.fd = (0,external_node_fs_.openSync)(path, "a", 0o640);
        }
        catch (err) {
            throw this.failure(err);
        }
    }
    /** Throws once when the file cannot be written (then it is closed and writes are skipped). */
    write(level, message, at) {
        if (this.fd === undefined)
            return;
        try {
            (0,external_node_fs_.writeSync)(this.fd, formatLine(level, message, at));
        }
        catch (err) {
            this.close();
            throw this.failure(err);
        }
    }
    failure(err) {
        const dir = external_node_path_default().dirname(this.path);
        const described = describeWriteFailure(err, `the log directory '${dir}'`, dir, external_node_path_default().basename(this.path));
        return described === err
            ? new Error(`Cannot write the log file ${this.path}: ${err.message}`, { cause: err })
            : described;
    }
    close() {
        if (this.fd !== undefined)
            (0,external_node_fs_.closeSync)(this.fd);
        this.fd = undefined;
    }
}
/**
 * Control characters made visible (ESC as \x1b, CR as \r): a file or object name from a backup
 * directory or bucket may hold them, and a terminal would obey them (erase a FAILED line, print "OK").
 * Newlines and tabs stay: messages may be several lines.
 */
function showControls(text) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
    return text.replace(/[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g, (c) => c === "\r" ? "\\r" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

;// CONCATENATED MODULE: ./src/metrics/exposition.ts
/** A gauge: every metric Lifeline exposes is one (a last status, a duration, a timestamp, a size). */
function gauge(name, help, labels, value) {
    return { name, help, type: "gauge", labels, value };
}
/** A time as Prometheus timestamps are exposed: whole seconds since the epoch. */
function unixSeconds(at) {
    return Math.floor(at.getTime() / 1000);
}
const escapeLabel = (v) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
function seriesKey(name, labels) {
    const inner = Object.keys(labels)
        .sort()
        .map((k) => `${k}="${escapeLabel(labels[k])}"`)
        .join(",");
    return inner ? `${name}{${inner}}` : name;
}
/** Renders samples as text format 0.0.4: HELP and TYPE once per metric name, then its series. */
function renderExposition(samples) {
    const byName = new Map();
    for (const s of samples)
        byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
    const lines = [];
    for (const [name, series] of byName) {
        lines.push(`# HELP ${name} ${series[0].help}`, `# TYPE ${name} ${series[0].type}`);
        for (const s of series)
            lines.push(`${seriesKey(name, s.labels)} ${Number.isInteger(s.value) ? s.value : s.value.toFixed(3)}`);
    }
    return `${lines.join("\n")}\n`;
}
/** Reads back the samples of a text exposition (as written by `renderExposition`). */
function parseExposition(text) {
    const help = new Map();
    const type = new Map();
    const samples = [];
    for (const line of text.split("\n")) {
        const h = /^# HELP (\S+) (.*)$/.exec(line);
        if (h)
            help.set(h[1], h[2]);
        const t = /^# TYPE (\S+) (gauge|counter)$/.exec(line);
        if (t)
            type.set(t[1], t[2]);
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || line.startsWith("#"))
            continue;
        const labels = {};
        for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
            labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
        }
        samples.push({
            name: m[1],
            help: help.get(m[1]) ?? m[1],
            type: type.get(m[1]) ?? "gauge",
            labels,
            value: Number(m[3]),
        });
    }
    return samples;
}

;// CONCATENATED MODULE: ./src/metrics/backup-metrics.ts

/**
 * The runbook's metric names, with `type` as its label ("database", later "media"). A run whose local
 * backup landed but whose off-site copy failed reports status 1 (it exits 1, and BackupFailed fires)
 * while its success timestamp and size still advance: the backup exists. Each destination gets its own
 * `backup_upload_*` series.
 */
function backupSamples(type, run, destinations = []) {
    const labels = { type };
    const at = unixSeconds(run.finishedAt);
    const samples = [
        gauge("backup_last_status", "Exit status of last backup (0=success)", labels, run.ok ? 0 : 1),
        gauge("backup_last_run_timestamp", "Unix timestamp of the last backup attempt", labels, at),
        gauge("backup_duration_seconds", "Wall time of the last backup attempt", labels, run.durationSeconds),
    ];
    for (const d of destinations) {
        const dl = { type, destination: d.kind, location: d.location };
        samples.push(gauge("backup_upload_last_status", "Status of the last upload to an off-site destination (0=success)", dl, d.ok ? 0 : 1), gauge("backup_upload_duration_seconds", "Wall time of the last upload to an off-site destination", dl, d.seconds));
        if (d.ok) {
            samples.push(gauge("backup_upload_last_success_timestamp", "Unix timestamp of the last successful upload to an off-site destination", dl, at), gauge("backup_upload_bytes", "Bytes of the last successful upload to an off-site destination", dl, d.bytes));
        }
    }
    // The backup exists when its size is known, even if an off-site copy failed and the run exits 1.
    if (run.sizeBytes !== undefined) {
        samples.push(gauge("backup_last_success_timestamp", "Unix timestamp of last successful backup", labels, at), gauge("backup_size_bytes", "Size of latest backup in bytes", labels, run.sizeBytes ?? 0));
    }
    return samples;
}

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __nccwpck_require__(1455);
// EXTERNAL MODULE: external "node:timers/promises"
var external_node_timers_promises_ = __nccwpck_require__(8500);
;// CONCATENATED MODULE: ./src/fs/regular-file.ts




/** What a directory entry is, in words for a message: "a FIFO (named pipe)", "a directory", ... */
function kindOf(entry) {
    if (entry.isFile())
        return "a regular file";
    if (entry.isFIFO())
        return "a FIFO (named pipe)";
    if (entry.isSymbolicLink())
        return "a symbolic link";
    if (entry.isDirectory())
        return "a directory";
    if (entry.isSocket())
        return "a socket";
    if (entry.isCharacterDevice())
        return "a character device";
    if (entry.isBlockDevice())
        return "a block device";
    return "not a regular file";
}
/** Something that is not a regular file where Lifeline expected one; it was not opened. */
class NotRegularFileError extends shared_errors/* UserError */.yo {
    file;
    kind;
    name = "NotRegularFileError";
    constructor(file, kind) {
        super(`${file} is ${kind}, not a regular file: Lifeline reads only regular files in a backup directory` +
            (kind === "a symbolic link"
                ? " and does not follow links there; put the file itself in its place"
                : "; remove it or put the real file in its place"));
        this.file = file;
        this.kind = kind;
    }
}
const isMissing = (err) => {
    const code = err.code;
    return code === "ENOENT" || code === "ENOTDIR";
};
/**
 * What is at `file`: undefined when nothing is; throws NotRegularFileError when it is anything but a
 * regular file (a symbolic link unless `followSymlinks`). Never opens it.
 */
async function statRegularFile(file, options = {}) {
    let found;
    try {
        found = await (options.followSymlinks ? promises_.stat : promises_.lstat)(file);
    }
    catch (err) {
        if (isMissing(err))
            return undefined;
        throw err;
    }
    if (!found.isFile())
        throw new NotRegularFileError(file, kindOf(found));
    return found;
}
/**
 * Opens a regular file for reading. It is judged before it is opened (lstat), then opened without
 * following a link and without blocking (a FIFO swapped in meanwhile opens at once instead of
 * waiting for a writer), and judged again on the open descriptor, which closes the race.
 * Throws ENOENT when it does not exist, NotRegularFileError when it is not a regular file.
 */
async function openRegularFile(file, options = {}) {
    const before = await statRegularFile(file, options);
    if (!before) {
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), {
            code: "ENOENT",
            path: file,
        });
    }
    const flags = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NONBLOCK | (options.followSymlinks ? 0 : external_node_fs_.constants.O_NOFOLLOW);
    let handle;
    try {
        handle = await (0,promises_.open)(file, flags);
    }
    catch (err) {
        // ELOOP: it became a link; ENXIO: it became a socket. Name what it is now.
        const code = err.code;
        if (code === "ELOOP" || code === "ENXIO") {
            const now = await (0,promises_.lstat)(file).catch(() => undefined);
            if (now && !now.isFile())
                throw new NotRegularFileError(file, kindOf(now));
        }
        throw err;
    }
    const opened = await handle.stat();
    if (!opened.isFile()) {
        await handle.close();
        throw new NotRegularFileError(file, kindOf(opened));
    }
    return handle;
}
/** Reads a small regular file as UTF-8 (a sidecar, a manifest, a lock), whole or bounded. See `openRegularFile`. */
async function readRegularFile(file, options = {}) {
    const handle = await openRegularFile(file, options);
    try {
        if (options.maxBytes === undefined)
            return await handle.readFile("utf8");
        // In chunks, so a 64 MiB bound does not allocate 64 MiB for a 200-byte manifest.
        const limit = options.maxBytes + 1;
        const chunks = [];
        let total = 0;
        while (total < limit) {
            const chunk = Buffer.alloc(Math.min(limit - total, 1 << 16));
            const { bytesRead } = await handle.read(chunk, 0, chunk.length, total);
            if (bytesRead === 0)
                break;
            chunks.push(chunk.subarray(0, bytesRead));
            total += bytesRead;
        }
        return Buffer.concat(chunks, total).toString("utf8");
    }
    finally {
        await handle.close();
    }
}
/** A directory Lifeline lists (a tier of BACKUP_DIR, or BACKUP_DIR itself) that is something else. */
class NotDirectoryError extends shared_errors/* UserError */.yo {
    path;
    kind;
    name = "NotDirectoryError";
    constructor(path, kind) {
        super(`${path} is ${kind}, not a directory: Lifeline keeps each tier (daily, weekly, monthly) in a directory ` +
            "of BACKUP_DIR; move the file away");
        this.path = path;
        this.kind = kind;
    }
}
/** The path at or above `dir` that exists but is no directory (what made a listing fail with ENOTDIR). */
async function notDirectoryAt(dir) {
    for (let at = dir;; at = (0,external_node_path_.dirname)(at)) {
        const found = await (0,promises_.lstat)(at).catch(() => undefined);
        if (found && !found.isDirectory())
            return { path: at, kind: kindOf(found) };
        if ((0,external_node_path_.dirname)(at) === at)
            return { path: dir, kind: "not a directory" };
    }
}
/**
 * Lists a directory without opening anything in it; a missing directory lists empty. One that is a
 * file (or under a file) throws NotDirectoryError naming it.
 */
async function listDirectory(dir) {
    let entries;
    try {
        entries = await (0,promises_.readdir)(dir, { withFileTypes: true });
    }
    catch (err) {
        const code = err.code;
        if (code === "ENOENT")
            return { files: [], others: [] };
        if (code === "ENOTDIR") {
            const at = await notDirectoryAt(dir);
            throw new NotDirectoryError(at.path, at.kind);
        }
        throw err;
    }
    const files = [];
    const others = [];
    for (const entry of entries) {
        if (entry.isFile())
            files.push(entry.name);
        else
            others.push({ name: entry.name, kind: kindOf(entry) });
    }
    return { files, others };
}

;// CONCATENATED MODULE: ./src/metrics/publish.ts







/** Each attempt's bound (the whole push is bounded by the network timeout too). */
const PUSH_ATTEMPT_TIMEOUT_MS = 10_000;
const PUSH_ATTEMPTS = 3;
/** The whole push's bound when none is configured (BACKUP_NETWORK_TIMEOUT_SECONDS sets it). */
const DEFAULT_PUSH_TIMEOUT_MS = 120_000;
/**
 * A Pushgateway URL split into the address fetch may use and its credentials: fetch refuses URLs with
 * `user:password@`, so they travel as an `Authorization: Basic` header; `shown` is safe to print.
 */
function gatewayAddress(raw) {
    const parsed = new URL(raw);
    if (parsed.username === "" && parsed.password === "")
        return { url: raw, shown: redactUrl(raw) };
    const decode = (part) => {
        try {
            return decodeURIComponent(part);
        }
        catch {
            return part;
        }
    };
    const credentials = `${decode(parsed.username)}:${decode(parsed.password)}`;
    parsed.username = "";
    parsed.password = "";
    const url = parsed.toString().replace(/\/+$/, "");
    return { url, shown: url, authorization: `Basic ${Buffer.from(credentials, "utf8").toString("base64")}` };
}
/**
 * Pushes a batch job's samples to the Pushgateway under grouping key job + `group` labels (no instance
 * label, as the Pushgateway docs advise for batch jobs). POST replaces only the metric names sent, so
 * a failed run that sends no success timestamp leaves the last one in place. Credentials in the URL
 * are sent as basic auth and never printed.
 */
async function pushToGateway(url, job, group, samples, options = {}) {
    const gateway = gatewayAddress(url);
    const groupPath = Object.entries(group)
        .map(([k, v]) => `/${encodeURIComponent(k)}/${encodeURIComponent(v)}`)
        .join("");
    const groupingPath = `/metrics/job/${encodeURIComponent(job)}${groupPath}`;
    const target = `${gateway.url}${groupingPath}`;
    const timeoutMs = options.timeoutMs ?? DEFAULT_PUSH_TIMEOUT_MS;
    let lastError;
    try {
        await (0,deadline/* withDeadline */.NE)(`The push to the Pushgateway ${gateway.shown}`, timeoutMs, async (signal) => {
            for (let attempt = 1; attempt <= PUSH_ATTEMPTS; attempt++) {
                try {
                    const response = await fetch(target, {
                        method: "POST",
                        headers: {
                            "Content-Type": "text/plain; version=0.0.4",
                            ...(gateway.authorization ? { Authorization: gateway.authorization } : {}),
                        },
                        body: renderExposition(samples),
                        signal: AbortSignal.any([
                            signal,
                            AbortSignal.timeout(Math.min(PUSH_ATTEMPT_TIMEOUT_MS, timeoutMs)),
                        ]),
                    });
                    if (response.ok)
                        return;
                    const body = (await response.text()).trim().slice(0, 300);
                    lastError = new Error(`HTTP ${response.status}${body ? `: ${body}` : ""}${response.status === 401 ? " (check the user and password in PUSHGATEWAY_URL)" : ""}`);
                    if (response.status < 500)
                        break; // a 4xx will not improve with retries
                }
                catch (err) {
                    if (signal.aborted)
                        throw err;
                    lastError = err.cause instanceof Error ? err.cause : err;
                }
                if (attempt < PUSH_ATTEMPTS)
                    await (0,external_node_timers_promises_.setTimeout)(250 * 2 ** attempt, undefined, { signal });
            }
            throw lastError;
        }, { signal: options.signal, setting: "BACKUP_NETWORK_TIMEOUT_SECONDS" });
    }
    catch (err) {
        throw new Error(`Could not push metrics to ${redactUrl(`${gateway.shown}${groupingPath}`)}: ${err?.message ?? err}`, { cause: err });
    }
}
/**
 * Writes samples into a node_exporter textfile atomically (temp file + rename), keeping the series of
 * the file that this run does not replace — e.g. the last success timestamp when this run failed.
 */
async function writeTextfile(file, samples) {
    // Only a regular file is read (a FIFO put there would block the run forever); anything else is replaced.
    const previous = parseExposition(await readRegularFile(file, { followSymlinks: true }).catch(() => ""));
    const merged = new Map(previous.map((s) => [seriesKey(s.name, s.labels), s]));
    for (const s of samples)
        merged.set(seriesKey(s.name, s.labels), s);
    const temp = external_node_path_default().join(external_node_path_default().dirname(file), `.${external_node_path_default().basename(file)}.${process.pid}.tmp`);
    await (0,promises_.writeFile)(temp, renderExposition([...merged.values()]), { mode: 0o644 });
    await (0,promises_.rename)(temp, file);
}
/**
 * Publishes a run's samples wherever configured. Never throws: a metrics failure is a warning and must
 * not fail a good backup; the outcome says what happened, for the summary.
 */
async function publishMetrics(settings, group, samples, logger, signal) {
    const outcome = {};
    if (settings.pushgatewayUrl) {
        try {
            await pushToGateway(settings.pushgatewayUrl, settings.job, group, samples, {
                timeoutMs: settings.timeoutMs,
                // The push is the run's report: a cancelled run still makes it (bounded); a signal that
                // arrives while pushing ends it.
                signal: signal?.aborted ? undefined : signal,
            });
            outcome.pushgateway = "pushed";
            logger.info(`Metrics pushed to ${gatewayAddress(settings.pushgatewayUrl).shown} (job ${settings.job})`);
        }
        catch (err) {
            outcome.pushgateway = err.message;
            logger.warn(`${err.message}; the backup itself is not affected`);
        }
    }
    if (settings.textfile) {
        try {
            await writeTextfile(settings.textfile, samples);
            outcome.textfile = "written";
        }
        catch (err) {
            outcome.textfile = `Could not write ${settings.textfile}: ${err.message}`;
            logger.warn(`${outcome.textfile}; the backup itself is not affected`);
        }
    }
    return outcome;
}

;// CONCATENATED MODULE: ./src/metrics/restore-metrics.ts

/** Samples of a verify run, per backup type, so that alerts can tell "not verified lately" apart. */
function verifySamples(type, run) {
    const labels = { type };
    const samples = [
        gauge("backup_verify_last_status", "Exit code of the last backup verification (0 ok, 1 failures, 2 too old or missing)", labels, run.exitCode),
        gauge("backup_verify_duration_seconds", "Wall time of the last backup verification", labels, run.durationSeconds),
    ];
    if (run.newestAgeHours !== undefined) {
        samples.push(gauge("backup_verify_newest_age_seconds", "Age of the newest good daily backup when last verified", labels, Math.round(run.newestAgeHours * 3600)));
    }
    if (run.ok) {
        samples.push(gauge("backup_verify_last_success_timestamp", "Unix timestamp of the last verification that passed", labels, unixSeconds(run.finishedAt)));
    }
    return samples;
}
/** Samples of a restore run. */
function restoreSamples(type, run) {
    const labels = { type };
    const samples = [
        gauge("backup_restore_last_status", "Exit status of the last restore (0=success)", labels, run.ok ? 0 : 1),
        gauge("backup_restore_duration_seconds", "Wall time of the last restore", labels, run.durationSeconds),
    ];
    if (run.ok) {
        samples.push(gauge("backup_restore_last_success_timestamp", "Unix timestamp of the last successful restore", labels, unixSeconds(run.finishedAt)));
    }
    return samples;
}

;// CONCATENATED MODULE: ./src/metrics/failed-run.ts



const STATUS = {
    backup: "backup_last_status",
    verify: "backup_verify_last_status",
    restore: "backup_restore_last_status",
};
/**
 * The samples of a run that ended in failure (thrown, refused or cancelled): its status is its exit
 * status (never 0), its duration and attempt time are recorded, and no success series is sent, so the
 * last success timestamp and size stay as the last good run left them (Pushgateway POST replaces only
 * the metric names sent; the textfile keeps the series not written).
 */
function failedRunSamples(kind, type, run) {
    const status = run.exitStatus === 0 ? 1 : run.exitStatus;
    const base = { ok: false, finishedAt: run.finishedAt, durationSeconds: run.durationSeconds };
    const samples = kind === "backup"
        ? backupSamples(type, base)
        : kind === "verify"
            ? verifySamples(type, { ...base, exitCode: status })
            : restoreSamples(type, base);
    return samples.map((s) => (s.name === STATUS[kind] ? { ...s, value: status } : s));
}
/** Publishes a failed run's samples (`type` "database" or "media") wherever configured; never throws. */
async function recordFailedRun(settings, kind, run, logger, type = "database") {
    if (!settings.pushgatewayUrl && !settings.textfile)
        return {};
    const finishedAt = new Date();
    const samples = failedRunSamples(kind, type, {
        finishedAt,
        durationSeconds: (finishedAt.getTime() - run.startedAt.getTime()) / 1000,
        exitStatus: run.exitStatus,
    });
    return publishMetrics(settings, { type }, samples, logger);
}

;// CONCATENATED MODULE: ./src/process/exit-status.ts

/**
 * Every exit status of Lifeline's commands, CLI and actions alike (README "Exit status"). verify's 1 and
 * 2 are the runbook's; 64 and 78 are sysexits' EX_USAGE and EX_CONFIG; 130 and 143 what shells report
 * for a process ended by SIGINT and SIGTERM (128 + signal number).
 */
const EXIT = {
    ok: 0,
    failed: 1,
    tooOldOrMissing: 2,
    usage: 64,
    config: 78,
    sigint: 130,
    sigterm: 143,
};
/** The lines every command's --help ends with: the statuses shared by all commands. */
const COMMON_EXIT_HELP = "64 invalid usage (unknown flag or command); 78 invalid configuration (a setting missing or malformed);\n" +
    "130 cancelled by SIGINT; 143 cancelled by SIGTERM.";
/**
 * The exit status of a run that threw `err`. A cancelled run (its AbortSignal raised by SIGINT or
 * SIGTERM) is 130/143 whatever was thrown on the way out: a cancelled run is never a success.
 */
function exitStatusOf(err, signal) {
    const cancelled = cancellationOf(err, signal);
    if (cancelled)
        return cancelled.signalName === "SIGINT" ? EXIT.sigint : EXIT.sigterm;
    if (err instanceof shared_errors/* UsageError */.eb)
        return EXIT.usage;
    if (err instanceof shared_errors/* ConfigError */.xL)
        return EXIT.config;
    return EXIT.failed;
}
/** The cancellation behind a run's end, if it was cancelled: the signal's reason, or the error itself. */
function cancellationOf(err, signal) {
    if (signal?.aborted && signal.reason instanceof shared_errors/* CancelledError */.cc)
        return signal.reason;
    return err instanceof shared_errors/* CancelledError */.cc ? err : undefined;
}

;// CONCATENATED MODULE: ./src/version.ts
/** Lifeline's version, recorded in every manifest. A unit test keeps it equal to package.json. */
const LIFELINE_VERSION = "0.1.0";

;// CONCATENATED MODULE: ./src/crypto/sealed-text.ts
/** Feeds `input` to a gpg stage and collects what it writes. */
async function through(stage, input) {
    const chunks = [];
    stage.stdout.on("data", (c) => chunks.push(c));
    const ended = new Promise((resolve, reject) => {
        stage.stdout.on("end", resolve);
        stage.stdout.on("error", reject);
    });
    stage.stdin?.on("error", () => { });
    stage.stdin?.end(input);
    await Promise.all([stage.exited, ended]);
    return Buffer.concat(chunks);
}
/**
 * A small text encrypted to the backup's recipient, base64: for what an encrypted backup's manifest
 * (which is not encrypted) must hold without showing it, e.g. database setting values.
 */
async function sealText(encryptor, text) {
    return (await through(encryptor.start(), Buffer.from(text, "utf8"))).toString("base64");
}
/** The text of `sealText`, decrypted with the restore's keyring. */
async function openSealedText(keyring, sealed) {
    return (await through(keyring.startDecrypt(true), Buffer.from(sealed, "base64"))).toString("utf8");
}

;// CONCATENATED MODULE: external "node:stream/promises"
const external_node_stream_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/promises");
;// CONCATENATED MODULE: ./src/db/pg-dump.ts

/** The marker pg_dump writes at the end of a plain-format dump; its absence means the dump is truncated. */
const PLAIN_DUMP_TRAILER = "-- PostgreSQL database dump complete";
/** The magic bytes a custom-format archive starts with. */
const CUSTOM_DUMP_MAGIC = "PGDMP";
/**
 * How many final bytes to search for the trailer. Since 17.6/16.10/15.14, pg_dump follows it with a
 * `\unrestrict <64-char key>` line, so the trailer is no longer the very last thing written.
 */
const TRAILER_WINDOW = 512;
/**
 * Starts pg_dump with the connection in its environment (never in argv, where `ps` would show a
 * password). `--no-password` makes a missing password fail instead of waiting for a prompt.
 */
function startPgDump(tool, args, env) {
    return startChildStage("pg_dump", tool.path, ["--no-password", ...args], { env });
}

;// CONCATENATED MODULE: ./src/stream/copy-row-counter.ts

const NOT_COPY = "#";
/**
 * Counts the rows of every table in a plain-format dump as it streams by: pg_dump writes each table's
 * data as `COPY schema.table (cols) FROM stdin;`, one line per row (newlines inside values are escaped
 * as \n), ended by a line `\.`. These counts describe exactly what the file holds, and cost the live
 * database nothing, unlike a count(*) per table.
 */
class CopyRowCounter {
    counts = new Map();
    inData = false;
    table = "";
    rows = 0;
    /** Text mode: the partial line carried over from the previous chunk (bounded). */
    carry = "";
    /** Data mode: first bytes of a row split across chunks, enough to recognise `\.`. */
    partial = [];
    partialOpen = false;
    static MAX_CARRY = 1 << 20;
    write(chunk) {
        let pos = 0;
        while (pos < chunk.length) {
            if (this.inData)
                pos = this.scanData(chunk, pos);
            else
                pos = this.scanText(chunk, pos);
        }
    }
    scanText(chunk, from) {
        const nl = chunk.indexOf(10, from);
        // Only lines that may be COPY headers are decoded; other lines are skipped unread ("#" marks one).
        const mayBeCopy = this.carry.length > 0
            ? this.carry !== NOT_COPY && ("COPY ".startsWith(this.carry) || this.carry.startsWith("COPY "))
            : chunk[from] === 0x43; // 'C'
        if (nl === -1) {
            if (!mayBeCopy)
                this.carry = NOT_COPY;
            else if (this.carry.length < CopyRowCounter.MAX_CARRY)
                this.carry += chunk.toString("latin1", from);
            return chunk.length;
        }
        if (mayBeCopy) {
            // Parsed byte for byte (latin1 keeps each byte one character; pg_dump quotes every name that is
            // not plain ASCII), then named as the catalog names it: UTF-8, or escaped when not UTF-8.
            const table = parseCopyHeader(this.carry + chunk.toString("latin1", from, nl));
            if (table !== undefined) {
                this.inData = true;
                this.table = displayName(Buffer.from(table, "latin1"));
                this.rows = 0;
                this.partial = [];
                this.partialOpen = false;
            }
        }
        this.carry = "";
        return nl + 1;
    }
    scanData(chunk, from) {
        let start = from;
        if (this.partialOpen) {
            // Complete the row begun in the previous chunk.
            const nl = chunk.indexOf(10, start);
            const end = nl === -1 ? chunk.length : nl;
            for (let i = start; i < end && this.partial.length < 3; i++)
                this.partial.push(chunk[i]);
            if (nl === -1)
                return chunk.length;
            if (this.endsSection(this.partial, this.partial.length))
                return this.closeSection(nl + 1);
            this.rows++;
            this.partialOpen = false;
            this.partial = [];
            start = nl + 1;
        }
        let nl = chunk.indexOf(10, start);
        while (nl !== -1) {
            if (nl - start === 2 && chunk[start] === 0x5c && chunk[start + 1] === 0x2e)
                return this.closeSection(nl + 1); // "\."
            this.rows++;
            start = nl + 1;
            nl = chunk.indexOf(10, start);
        }
        if (start < chunk.length) {
            this.partialOpen = true;
            this.partial = [...chunk.subarray(start, Math.min(chunk.length, start + 3))];
        }
        return chunk.length;
    }
    endsSection(bytes, length) {
        return length === 2 && bytes[0] === 0x5c && bytes[1] === 0x2e;
    }
    closeSection(next) {
        this.counts.set(this.table, (this.counts.get(this.table) ?? 0) + this.rows);
        this.inData = false;
        this.partialOpen = false;
        this.partial = [];
        return next;
    }
}
/**
 * The table of a pg_dump COPY header — `COPY public.t (a, b) FROM stdin;`, `COPY s."x (y)" FROM stdin;`,
 * or for a table without columns `COPY public.t  FROM stdin;` — in the catalog's unquoted form, or
 * undefined when the line is not a COPY header. Identifiers are read one by one, so quoted names may
 * hold spaces, dots, parentheses and doubled quotes.
 */
function parseCopyHeader(line) {
    if (!line.startsWith("COPY ") || !line.endsWith(" FROM stdin;"))
        return undefined;
    const parts = [];
    let i = 5;
    for (;;) {
        if (line[i] === '"') {
            let part = "";
            let j = i + 1;
            for (;;) {
                if (j >= line.length)
                    return undefined;
                if (line[j] === '"' && line[j + 1] === '"') {
                    part += '"';
                    j += 2;
                }
                else if (line[j] === '"')
                    break;
                else
                    part += line[j++];
            }
            parts.push(part);
            i = j + 1;
        }
        else {
            const m = /^[^\s."(]+/.exec(line.slice(i));
            if (!m)
                return undefined;
            parts.push(m[0]);
            i += m[0].length;
        }
        if (line[i] !== ".")
            break;
        i++;
    }
    // What follows the name: an optional column list, then FROM stdin;
    return /^\s*(?:\(.*\))?\s*FROM stdin;$/.test(line.slice(i)) ? parts.join(".") : undefined;
}

;// CONCATENATED MODULE: external "node:v8"
const external_node_v8_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:v8");
var external_node_v8_default = /*#__PURE__*/__nccwpck_require__.n(external_node_v8_namespaceObject);
;// CONCATENATED MODULE: external "node:vm"
const external_node_vm_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:vm");
var external_node_vm_default = /*#__PURE__*/__nccwpck_require__.n(external_node_vm_namespaceObject);
;// CONCATENATED MODULE: ./src/stream/memory-bound.ts


/** Bytes between two young-generation collections (measured on 1.25 GB: 16 MiB → 116 MB peak, 4 MiB → 90 MB, same speed). */
const GC_INTERVAL_BYTES = 4 << 20;
/** Bytes between two full collections. */
const MAJOR_GC_INTERVAL_BYTES = 128 << 20;
let gcFunction;
/** V8's gc() without starting Node with --expose-gc; null where the runtime refuses. */
function obtainGc() {
    if (gcFunction === undefined) {
        try {
            external_node_v8_default().setFlagsFromString("--expose-gc");
            gcFunction = external_node_vm_default().runInNewContext("gc");
        }
        catch {
            gcFunction = null;
        }
    }
    return gcFunction;
}
/**
 * Keeps peak memory flat however large the dump: every chunk read from a pipe is a fresh Buffer, and
 * V8 lets ~64 MiB of such external garbage pile up before it collects. A minor (young-generation) GC
 * every 4 MiB frees them early: measured, 149 → 73 MB peak RSS on 1 GB streamed, and no slower.
 */
class MemoryBound {
    sinceGc = 0;
    sinceMajor = 0;
    gc = obtainGc();
    /** Call with the size of every chunk that passes. */
    observe(bytes) {
        this.sinceGc += bytes;
        if (!this.gc || this.sinceGc < GC_INTERVAL_BYTES)
            return;
        this.sinceGc = 0;
        this.sinceMajor += GC_INTERVAL_BYTES;
        // Buffers that live across scavenges (e.g. blocks queued for compression) reach the old
        // generation; a full GC of this small heap every 128 MiB frees those too, in a few milliseconds.
        if (this.sinceMajor >= MAJOR_GC_INTERVAL_BYTES) {
            this.sinceMajor = 0;
            this.gc({ type: "major" });
        }
        else {
            this.gc({ type: "minor" });
        }
    }
}

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __nccwpck_require__(7598);
;// CONCATENATED MODULE: ./src/stream/stream-taps.ts



/**
 * Passes bytes through unchanged while computing their SHA-256 and counting them. With `limit`, more
 * than that many bytes fail the stream with `tooMuch()` (a download that is larger than it may be).
 */
class DigestTap extends external_node_stream_.Transform {
    limit;
    tooMuch;
    hash = (0,external_node_crypto_.createHash)("sha256");
    bytes = 0;
    constructor(limit = Number.POSITIVE_INFINITY, tooMuch = () => new Error(`more than ${limit} bytes arrived`)) {
        super();
        this.limit = limit;
        this.tooMuch = tooMuch;
    }
    _transform(chunk, _encoding, done) {
        this.bytes += chunk.length;
        if (this.bytes > this.limit) {
            done(this.tooMuch());
            return;
        }
        this.hash.update(chunk);
        done(null, chunk);
    }
    /** The hex digest; call once, after the stream has ended. */
    hex() {
        return this.hash.digest("hex");
    }
}
/** Passes bytes through unchanged, counting them and keeping the first and last bytes (format checks). */
class EdgeTap extends external_node_stream_.Transform {
    tailSize;
    headSize;
    bytes = 0;
    tailBuffer = Buffer.alloc(0);
    headBuffer = Buffer.alloc(0);
    constructor(tailSize = 256, headSize = 16) {
        super();
        this.tailSize = tailSize;
        this.headSize = headSize;
    }
    _transform(chunk, _encoding, done) {
        this.observe(chunk);
        done(null, chunk);
    }
    /** Records a chunk without passing it on (for use inside another stage). */
    observe(chunk) {
        if (this.headBuffer.length < this.headSize) {
            this.headBuffer = Buffer.concat([
                this.headBuffer,
                chunk.subarray(0, this.headSize - this.headBuffer.length),
            ]);
        }
        this.bytes += chunk.length;
        const joined = chunk.length >= this.tailSize ? chunk : Buffer.concat([this.tailBuffer, chunk]);
        this.tailBuffer = Buffer.from(joined.subarray(Math.max(0, joined.length - this.tailSize)));
    }
    tail() {
        return this.tailBuffer;
    }
    head() {
        return this.headBuffer;
    }
}
/**
 * The one tap raw dump bytes pass through (kept to one stage: every stage costs per-chunk overhead on a
 * path that carries gigabytes): counts bytes, keeps the first and last bytes for format checks, counts
 * COPY rows per table when asked, and keeps memory flat with a young-generation GC every 16 MiB.
 */
class DumpStreamTap extends external_node_stream_.Transform {
    rowCounter;
    bytes = 0;
    edges;
    bound = new MemoryBound();
    constructor(rowCounter, tailSize, headSize) {
        super();
        this.rowCounter = rowCounter;
        this.edges = new EdgeTap(tailSize, headSize);
    }
    _transform(chunk, _encoding, done) {
        this.bytes += chunk.length;
        this.edges.observe(chunk);
        this.rowCounter?.write(chunk);
        this.bound.observe(chunk.length);
        done(null, chunk);
    }
    head() {
        return this.edges.head();
    }
    tail() {
        return this.edges.tail();
    }
}

;// CONCATENATED MODULE: ./src/backup/dump-pipeline.ts









/** Rewrites a failure while writing the backup so that it says what happened to which file. */
function writeFailure(err, tempPath, backupDir) {
    const e = err;
    if (e.code === "ENOSPC" || e.code === "EDQUOT") {
        return new shared_errors/* UserError */.yo(`No space left on the device of BACKUP_DIR '${backupDir}' while writing ${external_node_path_default().basename(tempPath)}: ` +
            `free space (df -h ${backupDir}) or lower the retention; the partial file was removed and earlier backups are untouched`, { cause: err });
    }
    if (e.code === "EIO" || e.code === "EROFS") {
        return new shared_errors/* UserError */.yo(`Cannot write to BACKUP_DIR '${backupDir}' (${e.code}): check the disk and its mount`, { cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
}
function isPipeError(err) {
    const code = err?.code;
    return code === "EPIPE" || code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ERR_STREAM_DESTROYED";
}
/** A pass-through stage that only keeps memory flat (for compressed bytes, which need no inspection). */
class BoundedPassThrough extends external_node_stream_.Transform {
    bound = new MemoryBound();
    _transform(chunk, _encoding, done) {
        this.bound.observe(chunk.length);
        done(null, chunk);
    }
}
/**
 * pg_dump → compression → [gpg] → sha256 → partial file, in one streamed pass with backpressure end to
 * end. Two topologies:
 * - raw bytes through Node (gzip, none, or any plain dump whose rows are counted): one tap checks
 *   pg_dump's completion trailer (plain) or archive magic (custom) and counts COPY rows;
 * - zstd without row counting: pg_dump's stdout feeds the zstd program through a kernel pipe, exactly
 *   like `pg_dump | zstd`, and Node sees only compressed bytes; pg_dump's and zstd's exit statuses
 *   vouch for completeness, and zstd reports the byte count.
 * Resolves only when every stage succeeded; on any failure every child is stopped.
 */
async function runDumpPipeline(options) {
    const dump = startPgDump(options.pgDump, options.args, options.env);
    const plain = options.format === "plain";
    const direct = plain && options.compression === "zstd" && !options.countRows
        ? startDirectZstd(dump.stdout, options.level, options.threads)
        : undefined;
    const inNode = plain && !direct ? createCompressor(options.compression, options.level, options.threads) : undefined;
    const gpg = options.encryptor?.start();
    const children = [
        dump,
        ...(direct ? [direct.child] : []),
        ...(inNode?.child ? [inNode.child] : []),
        ...(gpg ? [gpg] : []),
    ];
    const stopAll = () => {
        for (const c of children)
            c.kill();
    };
    options.signal?.addEventListener("abort", stopAll, { once: true });
    if (options.signal?.aborted)
        stopAll(); // cancelled while the children were starting
    const tap = direct
        ? undefined
        : new DumpStreamTap(plain && options.countRows ? new CopyRowCounter() : undefined, TRAILER_WINDOW, CUSTOM_DUMP_MAGIC.length);
    const digest = new DigestTap();
    const source = direct ? direct.child.stdout : dump.stdout;
    const stages = [tap ?? new BoundedPassThrough()];
    if (inNode)
        stages.push(inNode.stream);
    if (gpg)
        stages.push(external_node_stream_.Duplex.from({ writable: gpg.stdin, readable: gpg.stdout }));
    stages.push(digest);
    try {
        const written = (0,external_node_stream_promises_namespaceObject.pipeline)(source, ...stages, options.sink ?? options.output.stream);
        // Whichever fails first is the cause: a write error (disk full) stops pg_dump; a pg_dump failure is
        // reported in its own words even though the pipeline then ends normally.
        await Promise.all([
            written.catch((err) => {
                stopAll();
                throw writeFailure(err, options.output.tempPath, options.backupDir);
            }),
            ...children.map((c) => c.exited),
        ]);
    }
    catch (err) {
        stopAll();
        // Every child is gone before we return: the caller then releases the lock and removes the temporary
        // GPG home, which must not happen under a still-running pg_dump or gpg.
        const settled = await Promise.allSettled(children.map((c) => c.exited));
        if (options.signal?.aborted) {
            throw new shared_errors/* UserError */.yo("The backup was cancelled; the partial file was removed and earlier backups are untouched", { cause: err });
        }
        // A stage that dies mid-stream (zstd, gpg) usually surfaces first as EPIPE on its stdin: its own
        // exit status and stderr say what really happened.
        if (isPipeError(err)) {
            const own = settled.find((r) => r.status === "rejected" && !/killed by SIGTERM/.test(r.reason.message));
            if (own)
                throw own.reason;
        }
        throw err;
    }
    finally {
        options.signal?.removeEventListener("abort", stopAll);
    }
    // With zstd reading pg_dump directly, both exit statuses vouch for completeness; the byte count is
    // zstd's report, recorded as unknown when an unfamiliar zstd words it differently.
    const dumpBytes = tap ? tap.bytes : (direct?.inputBytes() ?? null);
    if (dumpBytes === 0)
        throw new Error("pg_dump exited 0 but wrote nothing; no backup file was written");
    if (tap && plain && !tap.tail().toString("utf8").includes(PLAIN_DUMP_TRAILER)) {
        throw new Error(`pg_dump's output ended without '${PLAIN_DUMP_TRAILER}' after ${dumpBytes ?? "?"} bytes: the dump is incomplete`);
    }
    if (tap && !plain && tap.head().toString("latin1") !== CUSTOM_DUMP_MAGIC) {
        throw new Error(`pg_dump's output does not start with the custom-format magic '${CUSTOM_DUMP_MAGIC}'`);
    }
    return {
        dumpBytes,
        sha256: digest.hex(),
        fileBytes: digest.bytes,
        rowCounts: tap?.rowCounter?.counts,
        topology: direct?.description ?? inNode?.description ?? "custom format, compressed by pg_dump",
    };
}

;// CONCATENATED MODULE: external "node:events"
const external_node_events_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");
;// CONCATENATED MODULE: ./src/fs/atomic-file.ts







const PARTIAL_MARK = ".partial-";
/** Random hex characters in a partial name, and the widest pid Linux hands out (pid_max ≤ 2^22). */
const PARTIAL_RANDOM_BYTES = 4;
const PID_DIGITS_MAX = 7;
/** The longest name `partialPath` can give a file named `fileName` (its pid at the widest). */
function partialNameLength(fileName) {
    return (1 + Buffer.byteLength(fileName) + PARTIAL_MARK.length + PID_DIGITS_MAX + 1 + 2 * PARTIAL_RANDOM_BYTES);
}
/** A file could not be published because its final name is taken; nothing was overwritten. */
class NameTakenError extends shared_errors/* UserError */.yo {
    name = "NameTakenError";
}
/** The hidden temporary name a file is written under until it is complete. */
function partialPath(finalPath) {
    const dir = external_node_path_default().dirname(finalPath);
    return external_node_path_default().join(dir, `.${external_node_path_default().basename(finalPath)}${PARTIAL_MARK}${process.pid}-${(0,external_node_crypto_.randomBytes)(PARTIAL_RANDOM_BYTES).toString("hex")}`);
}
async function fsyncDirectory(dir) {
    const handle = await (0,promises_.open)(dir, "r").catch(() => undefined);
    if (!handle)
        return;
    await handle.sync().catch(() => { }); // some filesystems refuse fsync on directories; the rename is still atomic
    await handle.close();
}
/**
 * Publishes `tempPath` as `finalPath` without ever replacing an existing file: a hard link fails with
 * EEXIST where a rename would silently overwrite an earlier backup.
 */
async function publish(tempPath, finalPath) {
    try {
        await (0,promises_.link)(tempPath, finalPath);
        await (0,promises_.unlink)(tempPath);
    }
    catch (err) {
        const code = err.code;
        if (code === "EEXIST") {
            throw new NameTakenError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
                cause: err,
            });
        }
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV")
            throw err;
        // Filesystems without hard links: check, then rename (a narrow race, but never a torn file).
        if (await (0,promises_.stat)(finalPath).then(() => true, () => false)) {
            throw new NameTakenError(`Refusing to overwrite ${finalPath}: a file with that name already exists`, {
                cause: err,
            });
        }
        await (0,promises_.rename)(tempPath, finalPath);
    }
    await fsyncDirectory(external_node_path_default().dirname(finalPath));
}
/**
 * A file that appears under its final name only once it is complete and on disk: written to a hidden
 * temporary name in the same directory, fsynced, then published. Until `commit`, readers see nothing.
 */
class AtomicFile {
    finalPath;
    tempPath;
    stream;
    constructor(finalPath, tempPath, stream) {
        this.finalPath = finalPath;
        this.tempPath = tempPath;
        this.stream = stream;
    }
    static async create(finalPath, mode = 0o600) {
        const tempPath = partialPath(finalPath);
        const stream = (0,external_node_fs_.createWriteStream)(tempPath, { flags: "wx", mode, highWaterMark: 1 << 20 });
        await (0,external_node_events_namespaceObject.once)(stream, "ready"); // surfaces EACCES, EROFS, ENOENT here rather than mid-pipeline
        return new AtomicFile(finalPath, tempPath, stream);
    }
    /** Flushes to disk and publishes under the final name. Call after the stream has finished. */
    async commit() {
        await this.sync();
        await this.publish();
    }
    /** Flushes the finished file to disk, still under its hidden name. */
    async sync() {
        if (!this.stream.closed)
            await (0,external_node_events_namespaceObject.once)(this.stream, "close");
        // fsync through a fresh descriptor: it flushes the file's data whichever descriptor wrote it.
        const handle = await (0,promises_.open)(this.tempPath, "r+");
        try {
            await handle.sync();
        }
        finally {
            await handle.close();
        }
    }
    /** Publishes the synced file under its final name, never over an existing file (NameTakenError). */
    async publish() {
        await publish(this.tempPath, this.finalPath);
    }
    /** Discards the partial file. Safe to call more than once and after a failed commit. */
    async abort() {
        if (!this.stream.closed) {
            const closed = (0,external_node_events_namespaceObject.once)(this.stream, "close").catch(() => { });
            this.stream.destroy();
            await closed;
        }
        await (0,promises_.unlink)(this.tempPath).catch(() => { });
    }
}
/** Copies a file atomically: to a hidden temporary name, fsynced, then published without clobbering. */
async function copyFileAtomic(source, finalPath) {
    const tempPath = partialPath(finalPath);
    try {
        await (0,promises_.copyFile)(source, tempPath, external_node_fs_.constants.COPYFILE_EXCL);
        const handle = await (0,promises_.open)(tempPath, "r+");
        try {
            await handle.sync();
        }
        finally {
            await handle.close();
        }
        await publish(tempPath, finalPath);
    }
    catch (err) {
        await (0,promises_.unlink)(tempPath).catch(() => { });
        throw err;
    }
}
/**
 * Writes a small file under a hidden temporary name and syncs it, ready to be published. A full disk,
 * quota, read-only filesystem or missing permission is explained naming the directory; nothing is left.
 */
async function stageFile(finalPath, data, mode = 0o600) {
    const tempPath = partialPath(finalPath);
    const dir = external_node_path_default().dirname(finalPath);
    try {
        const handle = await (0,promises_.open)(tempPath, "wx", mode);
        try {
            await handle.writeFile(data);
            await handle.sync();
        }
        finally {
            await handle.close();
        }
    }
    catch (err) {
        await (0,promises_.unlink)(tempPath).catch(() => { });
        throw describeWriteFailure(err, `'${dir}'`, dir, external_node_path_default().basename(finalPath));
    }
    return { tempPath, finalPath };
}
/** Writes a small file atomically (manifest, checksum sidecar). */
async function writeFileAtomic(finalPath, data, mode = 0o600) {
    const staged = await stageFile(finalPath, data, mode);
    await publish(staged.tempPath, staged.finalPath).catch(async (err) => {
        await (0,promises_.unlink)(staged.tempPath).catch(() => { });
        throw err;
    });
}
/**
 * Publishes a file together with its companions (a backup with its manifest and sidecar), so that it
 * never exists under its final name without them: the companions are staged, then published, and the
 * data is published last by `publishData`. If any step fails, every companion staged or published by
 * this call is removed again, and the error is thrown: then nothing of it exists under a final name.
 * (A crash between the steps can leave a companion without its data: an orphan retention ignores,
 * never data without its companions.)
 */
async function publishWithCompanions(companions, publishData) {
    const staged = [];
    const published = [];
    try {
        for (const c of companions)
            staged.push(await stageFile(c.path, c.data));
        for (const s of staged) {
            await publish(s.tempPath, s.finalPath);
            published.push(s.finalPath);
        }
        await publishData();
    }
    catch (err) {
        for (const s of staged)
            await (0,promises_.unlink)(s.tempPath).catch(() => { });
        for (const file of published)
            await (0,promises_.unlink)(file).catch(() => { });
        throw err;
    }
}
function isAlive(pid) {
    try {
        process.kill(pid, 0);
        return true;
    }
    catch (err) {
        return err.code === "EPERM";
    }
}
/** When this process started (ms since the epoch): partials with its pid older than that are a dead run's. */
const PROCESS_STARTED_MS = Date.now() - process.uptime() * 1000;
/**
 * Removes partial files left by runs that died (SIGKILL, power loss) in `dir`. Files of a process that
 * is still alive are left alone, but for files with this process's own pid written before it started
 * (a container gives every run the same pid). With `minAgeMs`, only files at least that old (modified)
 * are considered. Returns the names removed.
 */
async function removeStalePartials(dir, minAgeMs = 0) {
    const removed = [];
    for (const name of await (0,promises_.readdir)(dir).catch(() => [])) {
        // Partials, and the name probes of earlier versions (`.lifeline-name-probe-<pid>-xxx…`).
        const m = new RegExp(`^\\..+${PARTIAL_MARK.replace(".", "\\.")}(\\d+)-[0-9a-f]+$`).exec(name) ??
            /^\.lifeline-name-probe-(\d+)-x*$/.exec(name);
        if (!m)
            continue;
        const pid = Number(m[1]);
        const modified = (await (0,promises_.stat)(external_node_path_default().join(dir, name)).catch(() => undefined))?.mtimeMs;
        if (modified === undefined || Date.now() - modified < minAgeMs)
            continue;
        const ownLeftover = pid === process.pid && modified < PROCESS_STARTED_MS - 1000;
        if (!ownLeftover && isAlive(pid))
            continue;
        await (0,promises_.unlink)(external_node_path_default().join(dir, name)).then(() => removed.push(name), () => { });
    }
    return removed;
}
/**
 * Removes companions (a manifest, a checksum sidecar: `<data><suffix>`) whose data file does not exist,
 * left by a crash between publishing the companions and the data (publishWithCompanions). Only those
 * modified before `olderThan` (the run's start: never the companions of a file being published now),
 * and only when `isData` accepts the data file's name. A companion whose data exists is never touched.
 * Returns the names removed.
 */
async function removeOrphanCompanions(dir, suffixes, olderThan, isData) {
    const removed = [];
    const names = await (0,promises_.readdir)(dir).catch(() => []);
    const present = new Set(names);
    for (const name of names) {
        const suffix = suffixes.find((s) => name.endsWith(s));
        if (!suffix)
            continue;
        const data = name.slice(0, -suffix.length);
        if (present.has(data) || !isData(data))
            continue;
        const file = external_node_path_default().join(dir, name);
        const info = await (0,promises_.lstat)(file).catch(() => undefined);
        if (!info?.isFile() || info.mtimeMs >= olderThan.getTime())
            continue;
        // Checked again at the last moment: the data may have appeared since the listing.
        if (await (0,promises_.lstat)(external_node_path_default().join(dir, data)).then(() => true, () => false))
            continue;
        await (0,promises_.unlink)(file).then(() => removed.push(name), () => { });
    }
    return removed;
}
/** The longest file name, in bytes, that ext4, xfs, btrfs, tmpfs and most others accept (NAME_MAX). */
const NAME_MAX = 255;
/**
 * Whether `dir` accepts a file name of `length` bytes: a hidden probe of that length is created and
 * removed at once. Some filesystems allow fewer than NAME_MAX (eCryptfs: 143), which only trying tells.
 * The probe is named like a partial (`.lifeline-name-probe.partial-<pid>-<hex>`, padded with hex
 * digits), so that one left by a killed run is swept by removeStalePartials, and a random part keeps it
 * from clashing with such a leftover (a container's next run has the same pid); a clash is retried.
 */
async function acceptsNameLength(dir, length) {
    for (let attempt = 0;; attempt++) {
        const probe = `.lifeline-name-probe${PARTIAL_MARK}${process.pid}-${(0,external_node_crypto_.randomBytes)(PARTIAL_RANDOM_BYTES).toString("hex")}`;
        const file = external_node_path_default().join(dir, probe.padEnd(Math.max(length, probe.length), "0"));
        try {
            const handle = await (0,promises_.open)(file, "wx", 0o600);
            await handle.close();
            await (0,promises_.unlink)(file);
            return true;
        }
        catch (err) {
            const code = err.code;
            if (code === "ENAMETOOLONG")
                return false;
            if (code === "EEXIST" && attempt < 3)
                continue;
            throw err;
        }
    }
}
/** The longest file name `dir` accepts, at most `upTo` bytes (a binary search of probes). */
async function longestNameAccepted(dir, upTo = NAME_MAX) {
    let low = 0;
    let high = upTo;
    while (low < high) {
        const mid = Math.ceil((low + high) / 2);
        if (await acceptsNameLength(dir, mid))
            low = mid;
        else
            high = mid - 1;
    }
    return low;
}
/** Creates a directory (and parents) and proves it writable, turning failures into advice. */
async function ensureWritableDirectory(dir, what) {
    try {
        await (0,promises_.mkdir)(dir, { recursive: true, mode: 0o750 });
        const probe = await AtomicFile.create(external_node_path_default().join(dir, ".lifeline-write-test"));
        await probe.abort();
    }
    catch (err) {
        const e = err;
        const described = describeWriteFailure(err, `${what} '${dir}'`, dir, "a probe file");
        if (described !== err)
            throw described;
        throw new shared_errors/* UserError */.yo(`${what} '${dir}' is not writable (${e.code ?? e.message}): create it and give this user write access ` +
            `(e.g. chown -R $(id -un) ${dir}), or point BACKUP_DIR elsewhere`, { cause: err });
    }
}

// EXTERNAL MODULE: ./src/storage/destination-error.ts
var destination_error = __nccwpck_require__(6822);
;// CONCATENATED MODULE: ./src/storage/fan-out.ts


/** How long to wait for an aborted upload to clean up before reporting anyway (a hung SDK call). */
const ABORT_WAIT_CAP_MS = 60_000;
/**
 * Writes every chunk to the primary destination (the local file) and to each upload, concurrently,
 * and takes the next chunk only when all of them have room: the slowest destination sets the pace,
 * so memory stays bounded by the uploads' own buffers. A failing upload is cut loose (aborted, its
 * error kept) and the others go on; a failing primary fails the whole stream and aborts every upload.
 */
class FanOut extends external_node_stream_.Writable {
    primary;
    options;
    branches;
    started = Date.now();
    finishedAt = new Map();
    constructor(primary, uploads, options) {
        super({ highWaterMark: 1 << 20 });
        this.primary = primary;
        this.options = options;
        this.branches = uploads.map(({ upload, uri }) => {
            let markFailed = () => { };
            const failed = new Promise((resolve) => {
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
            branch.upload.stream.on("error", () => { });
            branch.upload.done.then(() => this.finishedAt.set(branch, Date.now()), (err) => this.fail(branch, err));
        }
    }
    fail(branch, error) {
        if (branch.error)
            return;
        branch.error = error;
        this.finishedAt.set(branch, Date.now());
        branch.release?.();
        branch.markFailed();
        branch.aborting = branch.upload.abort(error);
        this.options.onBranchFailure?.(branch.uri, error);
    }
    live() {
        return this.branches.filter((b) => !b.error);
    }
    /** Resolves when the stream has room again, or the branch failed (then it no longer counts). */
    drained(branch) {
        return new Promise((resolve) => {
            const stream = branch.upload.stream;
            const timer = setTimeout(() => {
                this.fail(branch, new destination_error/* DestinationError */.lt(branch.uri, `Upload to ${branch.uri} made no progress for ${this.options.stallTimeoutMs / 1000} s: it was abandoned so that ` +
                    "the local backup could finish; check the network and the destination"));
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
    _write(chunk, _encoding, callback) {
        const waits = [];
        if (!this.primary.write(chunk)) {
            waits.push(new Promise((resolve) => {
                const done = () => {
                    this.primary.off("drain", done);
                    this.primary.off("close", done);
                    resolve();
                };
                this.primary.once("drain", done);
                this.primary.once("close", done); // destroyed on error: the error handler fails us
            }));
        }
        for (const branch of this.live()) {
            branch.bytes += chunk.length;
            if (!branch.upload.stream.write(chunk))
                waits.push(this.drained(branch));
        }
        if (waits.length === 0)
            callback();
        else
            Promise.all(waits).then(() => callback(), callback);
    }
    // The uploads are NOT ended here: the end of the stream only means pg_dump stopped writing, not that
    // the dump is complete (its exit status and trailer are judged after). Ending an upload stores the
    // object under its final name, so that waits for finishUploads(), after the local file is committed.
    _final(callback) {
        this.primary.end();
        const settle = (err) => {
            this.primary.off("finish", settle);
            this.primary.off("error", settle);
            callback(err ?? null);
        };
        this.primary.once("finish", settle);
        this.primary.once("error", settle);
    }
    /** Completes every upload still going: call only once the backup is known good and committed locally. */
    finishUploads() {
        for (const branch of this.live())
            branch.upload.stream.end();
    }
    /** Aborts every upload still going (also after the stream finished): the backup is not good. */
    abortUploads(reason) {
        for (const branch of this.live())
            this.fail(branch, reason);
    }
    _destroy(error, callback) {
        // pipeline() destroys every stream once it is done: after a clean finish the uploads wait for
        // finishUploads() or abortUploads().
        if (error || !this.writableFinished) {
            const reason = error ?? new Error("The backup stream was stopped before it ended");
            for (const branch of this.live())
                this.fail(branch, reason);
        }
        if (!this.primary.destroyed)
            this.primary.destroy(error ?? undefined);
        callback(error);
    }
    /**
     * Waits until every upload has completed or been aborted (leftovers removed) and says how each went.
     * Call after finishUploads() or abortUploads().
     */
    async outcomes() {
        return Promise.all(this.branches.map(async (branch) => {
            // A failed branch is not waited for: a stalled upload may never settle on its own.
            let deadline;
            const error = await Promise.race([
                branch.upload.done.then(() => undefined, (err) => err),
                branch.failed.then(() => branch.error),
                // After the last byte, only the parts in flight remain: an upload that does not complete
                // within the stall timeout is hung (a black-holed connection) and is given up.
                new Promise((resolve) => {
                    deadline = setTimeout(() => resolve(new destination_error/* DestinationError */.lt(branch.uri, `Upload to ${branch.uri} did not complete within ${this.options.stallTimeoutMs / 1000} s after its last byte; it was abandoned`)), this.options.stallTimeoutMs);
                }),
            ]);
            clearTimeout(deadline);
            if (error)
                this.fail(branch, error);
            let timer;
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
        }));
    }
}

;// CONCATENATED MODULE: ./src/catalog/backup-name.ts
/** Backup tiers of the runbook, each with its own directory and retention. */
const TIERS = ["daily", "weekly", "monthly"];
/** File extensions Lifeline writes and recognises, longest first so that parsing is unambiguous. */
const EXTENSIONS = ["sql.gz", "sql.zst", "sql", "dump"];
const PATTERN = new RegExp(`^(?<prefix>[A-Za-z0-9][A-Za-z0-9._-]*?)_(?<tier>${TIERS.join("|")})_(?<ts>\\d{8}_\\d{6})\\.(?<ext>${EXTENSIONS.map((e) => e.replace(".", "\\.")).join("|")})(?<gpg>\\.gpg)?$`);
const pad = (n, width = 2) => String(n).padStart(width, "0");
/** Formats a UTC instant as the runbook's YYYYMMDD_HHMMSS. */
function formatTimestamp(at) {
    return (`${at.getUTCFullYear()}${pad(at.getUTCMonth() + 1)}${pad(at.getUTCDate())}_` +
        `${pad(at.getUTCHours())}${pad(at.getUTCMinutes())}${pad(at.getUTCSeconds())}`);
}
function parseTimestamp(ts) {
    const m = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/.exec(ts);
    if (!m)
        return undefined;
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    // Reject impossible dates such as 20240231 instead of letting Date roll them over.
    return formatTimestamp(at) === ts ? at : undefined;
}
/**
 * The runbook's backup file name: `{prefix}_{tier}_{YYYYMMDD_HHMMSS}.sql.gz[.gpg]`, e.g.
 * `transcripts_daily_20241026_020000.sql.gz`. Timestamps are UTC.
 */
class BackupName {
    prefix;
    tier;
    takenAt;
    extension;
    encrypted;
    constructor(prefix, tier, takenAt, extension, encrypted = false) {
        this.prefix = prefix;
        this.tier = tier;
        this.takenAt = takenAt;
        this.extension = extension;
        this.encrypted = encrypted;
    }
    /** Parses a file name (not a path); undefined for anything that is not a backup name. */
    static parse(fileName) {
        const m = PATTERN.exec(fileName);
        if (!m?.groups)
            return undefined;
        const takenAt = parseTimestamp(m.groups.ts);
        if (!takenAt)
            return undefined;
        return new BackupName(m.groups.prefix, m.groups.tier, takenAt, m.groups.ext, !!m.groups.gpg);
    }
    /** The same backup filed under another tier (weekly and monthly copies share the daily's bytes). */
    withTier(tier) {
        return new BackupName(this.prefix, tier, this.takenAt, this.extension, this.encrypted);
    }
    toString() {
        return `${this.prefix}_${this.tier}_${formatTimestamp(this.takenAt)}.${this.extension}${this.encrypted ? ".gpg" : ""}`;
    }
}

;// CONCATENATED MODULE: ./src/catalog/manifest.ts
/**
 * The version this Lifeline writes. 2 added `databaseProperties` and `catalog.rawNames`; both are
 * optional, so version 1 manifests read the same (their restores say the properties were not recorded).
 */
const MANIFEST_VERSION = 2;
const MANIFEST_SUFFIX = ".manifest.json";
const CHECKSUM_SUFFIX = ".sha256";
/** `sha256sum` format: digest, two spaces, the file's base name (so `cd dir && sha256sum -c` works). */
function checksumLine(sha256, fileName) {
    return `${sha256}  ${fileName}\n`;
}
/** Parses the first line of a `sha256sum` file (text or binary mode, bare or absolute name). */
function parseChecksumLine(text) {
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(text.split(/\r?\n/)[0] ?? "");
    return m ? { sha256: m[1].toLowerCase(), fileName: m[2].split("/").pop() } : undefined;
}

;// CONCATENATED MODULE: ./src/backup/offsite.ts





/** The report of a destination that received nothing at this stage. */
function failedReport(store, error, stage) {
    return {
        kind: store.kind,
        location: store.location,
        uris: [],
        ok: false,
        error,
        stage,
        bytes: 0,
        seconds: 0,
    };
}
/**
 * Proves every destination usable before the dump (bucket exists, credentials work, we may write),
 * all at once, each within `timeoutMs`: one that fails or does not answer in time is reported and
 * skipped, and the local backup goes ahead without it. `signal` (the run's) ends every check at once.
 */
async function preflightDestinations(stores, logger, options = {}) {
    const timeoutMs = options.timeoutMs ?? storage_transfer/* DEFAULT_TRANSFER */._M.preflightTimeoutMs;
    const results = await Promise.all(stores.map(async (store) => {
        try {
            await (0,deadline/* withDeadline */.NE)(`The check of ${store.location}`, timeoutMs, (signal) => store.preflight(signal), {
                signal: options.signal,
                setting: storage_transfer/* PREFLIGHT_TIMEOUT_SETTING */.bc,
            });
            logger.info(`Destination ready: ${store.location}`);
            return { store, error: undefined };
        }
        catch (err) {
            // Cancelled: the caller stops the run; no destination failed.
            if (!options.signal?.aborted) {
                logger.error(`${(0,destination_error/* briefly */.m_)(err)} — this destination is skipped; the local backup goes ahead`);
            }
            return { store, error: (0,destination_error/* briefly */.m_)(err) };
        }
    }));
    return {
        ready: results.filter((r) => r.error === undefined).map((r) => r.store),
        failed: results
            .filter((r) => r.error !== undefined)
            .map((r) => ({
            kind: r.store.kind,
            location: r.store.location,
            uris: [],
            ok: false,
            error: r.error,
            stage: "preflight",
            bytes: 0,
            seconds: 0,
        })),
    };
}
/** Starts one streamed upload per destination and name; those that cannot start are reported. */
async function startUploads(targets, contentType, logger, expectedBytes) {
    const started = [];
    const failed = [];
    for (const { store, names } of targets) {
        const mine = [];
        try {
            for (const name of names) {
                mine.push({
                    store,
                    upload: await store.upload(name, { contentType, expectedBytes }),
                    uri: store.uri(name),
                });
            }
            started.push(...mine);
        }
        catch (err) {
            for (const m of mine)
                await m.upload.abort(err);
            logger.error(`${(0,destination_error/* briefly */.m_)(err)} — this destination is skipped; the local backup goes ahead`);
            failed.push(failedReport(store, (0,destination_error/* briefly */.m_)(err), "upload"));
        }
    }
    return { started, failed };
}
/**
 * After the data objects are stored: per object its manifest (when the backup has one: a backup made
 * by hand has only its sidecar, there as here), the checksum on the object itself, and the sidecar last
 * (as locally, the sidecar marks a complete backup). Groups outcomes by destination.
 */
async function completeUploads(started, outcomes, record, logger) {
    const { sha256, manifest } = record;
    const byStore = new Map();
    for (const [i, s] of started.entries()) {
        const outcome = outcomes[i];
        const entry = byStore.get(s.store) ?? { uris: [], errors: [], bytes: 0, seconds: 0 };
        byStore.set(s.store, entry);
        if (!outcome)
            continue;
        entry.bytes += outcome.bytes;
        entry.seconds = Math.max(entry.seconds, outcome.seconds);
        if (outcome.error) {
            entry.errors.push((0,destination_error/* briefly */.m_)(outcome.error));
            continue;
        }
        const name = s.upload.name;
        try {
            if (manifest) {
                const tier = BackupName.parse(name)?.tier ?? manifest.tier;
                await s.store.put(`${name}${MANIFEST_SUFFIX}`, `${JSON.stringify({ ...manifest, sha256, file: name, tier }, null, 2)}\n`, { contentType: "application/json" });
            }
            // The checksum on the object is an extra (the sidecar is the record): its failure is a warning.
            await s.store.recordChecksum(name, sha256).catch((err) => {
                logger.warn(`${(0,destination_error/* briefly */.m_)(err)} — the .sha256 sidecar still records it`);
            });
            await s.store.put(`${name}${CHECKSUM_SUFFIX}`, checksumLine(sha256, name));
            entry.uris.push(s.uri);
            logger.info(`Uploaded ${s.uri} (${outcome.bytes} bytes, sha256 ${sha256})`);
        }
        catch (err) {
            entry.errors.push((0,destination_error/* briefly */.m_)(err));
            // Without its sidecar the copy is not a backup: remove it rather than leave an orphan that
            // verify and retention would report every night.
            for (const orphan of [name, ...(manifest ? [`${name}${MANIFEST_SUFFIX}`] : [])]) {
                await s.store.delete(orphan).catch((e) => {
                    logger.error(`Could not remove the incomplete copy ${s.store.uri(orphan)}: ${(0,destination_error/* briefly */.m_)(e)}`);
                });
            }
        }
    }
    return [...byStore.entries()].map(([store, e]) => {
        for (const error of e.errors)
            logger.error(`Off-site copy failed: ${error}`);
        return {
            kind: store.kind,
            location: store.location,
            uris: e.uris,
            ok: e.errors.length === 0,
            ...(e.errors.length > 0 ? { error: e.errors.join("; "), stage: "upload" } : {}),
            bytes: e.bytes,
            seconds: e.seconds,
        };
    });
}

;// CONCATENATED MODULE: ./src/storage/local-store.ts






/**
 * A local directory as a BackupStore: names are file names in it. Uploads appear under their final
 * name only when complete (AtomicFile); hidden files (partials, locks) are never listed. Only regular
 * files are objects: anything else under a name (a FIFO, a directory, a symbolic link unless
 * `followSymlinks`) is never opened; `stat` throws NotRegularFileError for it and `listOthers` names it.
 */
class LocalStore {
    dir;
    options;
    kind = "local";
    constructor(dir, options = {}) {
        this.dir = dir;
        this.options = options;
    }
    get location() {
        return `${external_node_path_default().resolve(this.dir)}/`;
    }
    uri(name) {
        return external_node_path_default().join(external_node_path_default().resolve(this.dir), name);
    }
    async preflight() {
        await ensureWritableDirectory(this.dir, "Backup directory");
    }
    async upload(name, options = {}) {
        const file = await AtomicFile.create(this.uri(name));
        const abort = async (_reason) => {
            await file.abort();
        };
        options.signal?.addEventListener("abort", () => void abort(new Error("aborted")), { once: true });
        const done = (async () => {
            try {
                // Rejects when the stream is destroyed before it ended (abort): never waits forever.
                await (0,external_node_stream_promises_namespaceObject.finished)(file.stream);
                await file.commit();
            }
            catch (err) {
                await file.abort();
                throw err;
            }
        })();
        done.catch(() => { }); // observed by the caller through `done`
        return { name, stream: file.stream, done, abort };
    }
    /** Replaces the file atomically (write a hidden temp file, fsync, rename), as a cloud PUT would. */
    async put(name, body) {
        const final = this.uri(name);
        const temp = external_node_path_default().join(this.dir, `.${name}.put-${process.pid}`);
        const handle = await (0,promises_.open)(temp, "w", 0o600);
        try {
            await handle.writeFile(body);
            await handle.sync();
        }
        finally {
            await handle.close();
        }
        await (0,promises_.rename)(temp, final).catch(async (err) => {
            await (0,promises_.unlink)(temp).catch(() => { });
            throw err;
        });
    }
    /** A local file's checksum lives in its `.sha256` sidecar, written by the caller: nothing to add. */
    async recordChecksum(_name, _sha256) { }
    async list() {
        const out = [];
        for (const name of (await listDirectory(this.dir)).files) {
            if (name.startsWith("."))
                continue;
            // Replaced by something else since it was listed: not an object any more.
            const found = await this.stat(name).catch(() => undefined);
            if (found)
                out.push(found);
        }
        return out;
    }
    /** The entries that are not objects (FIFOs, sockets, directories, symbolic links), with what each is. */
    async listOthers() {
        return (await listDirectory(this.dir)).others.filter((o) => !o.name.startsWith("."));
    }
    async stat(name) {
        const s = await statRegularFile(this.uri(name), this.options).catch((err) => {
            if (err instanceof NotRegularFileError)
                throw err;
            return undefined; // unreadable metadata (EACCES on the directory): as good as absent
        });
        return s ? { name, sizeBytes: s.size, lastModified: s.mtime } : undefined;
    }
    async get(name, signal, range) {
        // Opened here: ENOENT, EACCES and a non-regular file name the file, rather than mid-pipeline.
        const handle = await openRegularFile(this.uri(name), this.options);
        return (0,external_node_fs_.createReadStream)(this.uri(name), {
            fd: handle,
            highWaterMark: 1 << 20,
            ...(range ? { start: range.start, end: range.end - 1 } : {}),
            ...(signal ? { signal } : {}),
        });
    }
    async getText(name, options = {}) {
        return readRegularFile(this.uri(name), { ...this.options, ...options }).catch((err) => {
            if (err.code === "ENOENT")
                return undefined;
            throw err;
        });
    }
    /** Removes a file; a directory under the name is never removed (NotRegularFileError names it). */
    async delete(name) {
        await (0,promises_.unlink)(this.uri(name)).catch(async (err) => {
            if (err.code === "ENOENT")
                return;
            // unlink(2) refuses a directory with EISDIR (Linux) or EPERM (macOS): say what it is.
            if (err.code === "EISDIR" || err.code === "EPERM")
                await statRegularFile(this.uri(name));
            throw err;
        });
    }
}

;// CONCATENATED MODULE: ./src/catalog/catalog.ts






/** A sidecar (`.sha256`) is one `sha256sum` line: anything larger is not one, and is not read. */
const MAX_SIDECAR_BYTES = 4096;
/** A manifest records schemas, tables and row counts: generous, yet never a whole dump read into memory. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;
/** Sidecars read at once: a bucket with hundreds of backups is judged in a few round trips, not one each. */
const SIDECAR_READS = 4;
/** What is under a store's prefix besides its objects: in a directory, entries that are not regular files. */
async function othersOf(store) {
    return store instanceof LocalStore ? store.listOthers() : [];
}
/**
 * The backups in one store (a BACKUP_DIR tier directory is a LocalStore, a bucket prefix a cloud store),
 * newest first, each judged: data a non-empty regular file, and a sidecar that is a small regular file
 * holding a well-formed `sha256sum` line naming it. Companion files, hidden partials and names that are
 * not backups are not entries. One listing, a few sidecar reads at a time.
 */
async function listCatalog(store, options = {}) {
    const objects = options.objects ?? (await store.list());
    const others = await othersOf(store);
    const present = new Map();
    for (const o of [...objects, ...others])
        present.set(o.name, o);
    const wanted = (fileName) => {
        const name = BackupName.parse(fileName);
        if (!name)
            return undefined;
        if (options.prefix !== undefined && name.prefix !== options.prefix)
            return undefined;
        if (options.tiers && !options.tiers.includes(name.tier))
            return undefined;
        return options.include && !options.include(name) ? undefined : name;
    };
    const found = [];
    for (const object of objects) {
        const name = wanted(object.name);
        if (name)
            found.push({ name, fileName: object.name, object });
    }
    for (const other of others) {
        const name = wanted(other.name);
        if (name)
            found.push({ name, fileName: other.name, object: undefined, kind: other.kind });
    }
    const entries = new Array(found.length);
    let next = 0;
    const worker = async () => {
        for (let i = next++; i < found.length; i = next++) {
            options.signal?.throwIfAborted();
            const { name, fileName, object, kind } = found[i];
            entries[i] = await judge(store, fileName, name, object, kind, present, options.signal);
        }
    };
    await Promise.all(Array.from({ length: Math.min(SIDECAR_READS, found.length) }, worker));
    return entries.sort(newestFirst);
}
/** Newest first; at the same moment, by URI (a stable order for listings). */
const newestFirst = (a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.uri.localeCompare(b.uri);
/** The entries by the tier their names give. */
function byTier(entries) {
    const out = Object.fromEntries(TIERS.map((t) => [t, []]));
    for (const e of entries)
        out[e.tier].push(e);
    return out;
}
/** One tier directory of BACKUP_DIR as a store (symbolic links are never followed there). */
function tierStore(backupDir, tier) {
    return new LocalStore(external_node_path_default().join(backupDir, tier));
}
async function judge(store, fileName, name, object, notRegular, present, signal) {
    const companions = [`${fileName}${CHECKSUM_SUFFIX}`, `${fileName}${MANIFEST_SUFFIX}`].filter((c) => present.has(c));
    const sidecarName = `${fileName}${CHECKSUM_SUFFIX}`;
    const base = {
        kind: "database-dump",
        store,
        fileName,
        uri: store.uri(fileName),
        name,
        tier: name.tier,
        takenAt: name.takenAt,
        object,
        sizeBytes: object?.sizeBytes ?? 0,
        companions,
        hasManifest: present.has(`${fileName}${MANIFEST_SUFFIX}`),
        irregularCompanions: companions.flatMap((c) => {
            const listed = present.get(c);
            return listed && "kind" in listed ? [{ name: c, kind: listed.kind }] : [];
        }),
    };
    const unread = present.has(sidecarName) ? { state: "unread" } : { state: "absent" };
    if (!object) {
        return { ...base, sidecar: unread, valid: false, problem: `${notRegular}, not a regular file` };
    }
    if (object.sizeBytes === 0) {
        return {
            ...base,
            sidecar: unread,
            valid: false,
            problem: store.kind === "local" ? "empty file" : "empty object",
        };
    }
    const listed = present.get(sidecarName);
    // Not in the listing: absent (no request to ask again).
    const sidecar = listed
        ? await readSidecar(store, fileName, listed, signal)
        : { state: "absent" };
    if (sidecar.state === "ok")
        return { ...base, sidecar, valid: true };
    const problem = sidecar.state === "bad" ? sidecar.problem : `no ${CHECKSUM_SUFFIX} sidecar`;
    return { ...base, sidecar, valid: false, problem };
}
/**
 * Reads and judges the sidecar of `fileName`. `listed` is what the store's listing says is under the
 * sidecar's name (undefined: nothing; a `kind`: not a regular file); when not given, it is looked up.
 * Read errors become a `bad` state naming them (the backup does not count), unless `signal` is aborted.
 */
async function readSidecar(store, fileName, listed, signal) {
    const sidecarName = `${fileName}${CHECKSUM_SUFFIX}`;
    const bad = (fault, problem, cause) => cause instanceof Error ? { state: "bad", fault, problem, cause } : { state: "bad", fault, problem };
    const notRegular = (kind, cause) => bad("not-regular", `its sidecar ${sidecarName} is ${kind}, not a regular file: remove it`, cause);
    const unreadable = (err) => bad("unreadable", `its sidecar ${sidecarName} cannot be read: ${err.message}`, err);
    let found = listed;
    if (!found) {
        try {
            found = await store.stat(sidecarName);
        }
        catch (err) {
            if (signal?.aborted)
                throw signal.reason;
            if (err instanceof NotRegularFileError)
                return notRegular(err.kind, err);
            return unreadable(err);
        }
        if (!found)
            return { state: "absent" };
    }
    if ("kind" in found)
        return notRegular(found.kind);
    if (found.sizeBytes > MAX_SIDECAR_BYTES) {
        return bad("too-large", `its sidecar ${sidecarName} is ${found.sizeBytes} bytes, not one 'sha256sum' line (at most ${MAX_SIDECAR_BYTES}): not read`);
    }
    let text;
    try {
        // Bounded: a sidecar replaced by a huge file since the listing is never read whole.
        text = await store.getText(sidecarName, { maxBytes: MAX_SIDECAR_BYTES });
    }
    catch (err) {
        if (signal?.aborted)
            throw signal.reason;
        if (err instanceof NotRegularFileError)
            return notRegular(err.kind, err);
        return unreadable(err);
    }
    if (text === undefined)
        return { state: "absent" };
    if (Buffer.byteLength(text) > MAX_SIDECAR_BYTES) {
        // Replaced by a larger file since it was listed: only the first MAX_SIDECAR_BYTES + 1 bytes were read.
        return bad("too-large", `its sidecar ${sidecarName} is more than ${MAX_SIDECAR_BYTES} bytes, not one 'sha256sum' line: not read`);
    }
    const parsed = parseChecksumLine(text);
    if (!parsed)
        return bad("malformed", `malformed ${CHECKSUM_SUFFIX} sidecar`);
    if (parsed.fileName !== fileName) {
        return {
            state: "bad",
            fault: "names-other",
            names: parsed.fileName,
            problem: `${CHECKSUM_SUFFIX} sidecar names '${parsed.fileName}'`,
        };
    }
    return { state: "ok", sha256: parsed.sha256 };
}
/**
 * The text of the manifest beside `fileName`, undefined when there is none. One that is not a regular
 * file (NotRegularFileError) or is larger than MAX_MANIFEST_BYTES (ManifestTooLargeError) is refused unread.
 */
async function readManifestText(store, fileName) {
    const manifestName = `${fileName}${MANIFEST_SUFFIX}`;
    const object = await store.stat(manifestName);
    if (!object)
        return undefined;
    if (object.sizeBytes > MAX_MANIFEST_BYTES) {
        throw new ManifestTooLargeError(store.uri(manifestName), object.sizeBytes);
    }
    // Bounded: a manifest swapped for a huge file since the stat is never read whole.
    const text = await store.getText(manifestName, { maxBytes: MAX_MANIFEST_BYTES });
    if (text !== undefined && Buffer.byteLength(text) > MAX_MANIFEST_BYTES) {
        throw new ManifestTooLargeError(store.uri(manifestName));
    }
    return text;
}
/** A manifest too large to be one: not read into memory. */
class ManifestTooLargeError extends shared_errors/* UserError */.yo {
    uri;
    sizeBytes;
    name = "ManifestTooLargeError";
    /** `sizeBytes`: its size as listed; undefined when it grew past the bound while being read. */
    constructor(uri, sizeBytes) {
        super(`The manifest ${uri} is ${sizeBytes ?? `over ${MAX_MANIFEST_BYTES}`} bytes, more than a ` +
            `manifest holds (${MAX_MANIFEST_BYTES}): it was not read; move it away to use the backup without it`);
        this.uri = uri;
        this.sizeBytes = sizeBytes;
    }
}
/**
 * The backups of one BACKUP_DIR tier directory with the given prefix, judged (see `listCatalog`).
 * Kept for callers that name a directory rather than a store.
 */
async function listLocalBackups(dir, tier, prefix) {
    return listCatalog(new LocalStore(dir), { prefix, tiers: [tier] });
}

;// CONCATENATED MODULE: ./src/retention/calendar.ts
/** UTC calendar arithmetic for tiers and retention: whole days and months, immune to time-of-day jitter. */
const DAY_MS = 86_400_000;
/** Days since the epoch of the UTC date of `at`. */
function dayNumber(at) {
    return Math.floor(at.getTime() / DAY_MS);
}
/** Months since the epoch of the UTC month of `at`. */
function monthNumber(at) {
    return at.getUTCFullYear() * 12 + at.getUTCMonth();
}
/** Start (00:00 UTC) of the weekly period containing `at`: the latest `weekday` (0 = Sunday) on or before it. */
function weekPeriodStart(at, weekday) {
    const back = (at.getUTCDay() - weekday + 7) % 7;
    return new Date((dayNumber(at) - back) * DAY_MS);
}
/** Start (00:00 UTC) of the monthly period containing `at`: the latest day-of-month `day` (1–28) on or before it. */
function monthPeriodStart(at, day) {
    const y = at.getUTCFullYear();
    const m = at.getUTCMonth();
    return at.getUTCDate() >= day ? new Date(Date.UTC(y, m, day)) : new Date(Date.UTC(y, m - 1, day));
}
/**
 * How many promotion periods lie between the period a backup taken at `at` stands for and the period
 * of `now` (0 = the current one). A weekly taken late in its week (a catch-up promotion) stands for that
 * week, not for the 7 days after it, so it ages with the other backups of its week.
 */
function periodsBetween(tier, at, now, schedule) {
    if (tier === "weekly") {
        const days = dayNumber(weekPeriodStart(now, schedule.weeklyDay)) -
            dayNumber(weekPeriodStart(at, schedule.weeklyDay));
        return Math.round(days / 7);
    }
    return (monthNumber(monthPeriodStart(now, schedule.monthlyDay)) -
        monthNumber(monthPeriodStart(at, schedule.monthlyDay)));
}

;// CONCATENATED MODULE: ./src/retention/plan.ts

const UNITS = { daily: "day", weekly: "week", monthly: "month" };
/**
 * How many retention units old a backup is: 0 for today / this week / this month. Weekly and monthly
 * backups are aged by the promotion period they stand for (the schedule's weeks and months), not by
 * their own date: a weekly promoted on a Tuesday because Sunday's run failed belongs to Sunday's week,
 * so keeping N weeks keeps at most N weeklies.
 */
function ageInUnits(tier, takenAt, now, schedule) {
    if (tier === "daily")
        return dayNumber(now) - dayNumber(takenAt);
    return periodsBetween(tier, takenAt, now, schedule);
}
/** Whether retention keeps a valid backup of this date for its age alone (the window of the policy). */
function withinRetention(tier, takenAt, policy, now, schedule) {
    return ageInUnits(tier, takenAt, now, schedule) < policy[tier];
}
/**
 * Decides, for one tier, which backups to keep and which to delete. Safety rules, in order:
 * a backup that does not count (no valid sidecar, empty) is reported and never deleted nor counted;
 * the newest valid backup is always kept, however old; a backup dated in the future (clock skew) is
 * kept; the rest are kept while younger than the policy's count of units.
 */
function planRetention(tier, backups, policy, now, schedule) {
    const limit = policy[tier];
    const unit = UNITS[tier];
    const newestFirst = [...backups].sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime());
    const newestValid = newestFirst.find((b) => b.valid && b.name.takenAt.getTime() <= now.getTime());
    const decisions = newestFirst.map((backup) => {
        if (!backup.valid) {
            return {
                backup,
                action: "report",
                reason: `does not count as a backup (${backup.problem ?? "invalid"}); left in place`,
            };
        }
        if (backup.name.takenAt.getTime() > now.getTime()) {
            return { backup, action: "keep", reason: "dated in the future (clock skew?); kept" };
        }
        if (backup === newestValid)
            return { backup, action: "keep", reason: `newest valid ${tier} backup; always kept` };
        const age = ageInUnits(tier, backup.name.takenAt, now, schedule);
        return age < limit
            ? { backup, action: "keep", reason: `${age} ${unit}(s) old, within ${limit}` }
            : { backup, action: "delete", reason: `${age} ${unit}(s) old, beyond ${limit}` };
    });
    return { tier, decisions };
}

;// CONCATENATED MODULE: ./src/backup/tiers.ts







/**
 * Which higher tiers the backup taken at `at` must also be filed under: a tier gets it when its current
 * period (the week since the last weekly day, the month since the last monthly day) has no valid
 * backup yet. On the promotion day that is this run; when that run failed, the next good one catches up.
 */
async function tiersDue(backupDir, prefix, at, schedule) {
    const held = {};
    for (const tier of PROMOTED_TIERS) {
        held[tier] = await listCatalog(tierStore(backupDir, tier), { prefix, tiers: [tier] });
    }
    return tiersDueAmong(held, at, schedule);
}
/** Tiers a daily backup can be promoted to. */
const PROMOTED_TIERS = ["weekly", "monthly"];
/**
 * The promoted tiers whose current period has no valid backup among `held` (one place's backups per
 * tier: BACKUP_DIR's folders, or what one bucket holds), so that each place is judged on its own.
 */
function tiersDueAmong(held, at, schedule) {
    return PROMOTED_TIERS.filter((tier) => isTierDue(tier, held[tier] ?? [], at, schedule));
}
/** Pure rule behind `tiersDue`: no valid backup of the tier since its current period began. */
function isTierDue(tier, existing, at, schedule) {
    const start = tier === "weekly" ? weekPeriodStart(at, schedule.weeklyDay) : monthPeriodStart(at, schedule.monthlyDay);
    return !existing.some((b) => b.valid && b.name.takenAt >= start && b.name.takenAt <= at);
}
/**
 * Files the daily backup under another tier with the same bytes: a hard link (a copy where links are
 * not possible), plus its own sidecar and manifest naming the tier's file. The data is filed last,
 * beside them, so that a tier's copy never exists without its sidecar and manifest.
 */
async function fileUnderTier(backupDir, dailyFile, name, tier, sha256) {
    const dir = external_node_path_default().join(backupDir, tier);
    await (0,promises_.mkdir)(dir, { recursive: true, mode: 0o750 });
    const tierName = name.withTier(tier).toString();
    const target = external_node_path_default().join(dir, tierName);
    const manifest = JSON.parse(await readRegularFile(`${dailyFile}${MANIFEST_SUFFIX}`));
    await publishWithCompanions([
        {
            path: `${target}${MANIFEST_SUFFIX}`,
            data: `${JSON.stringify({ ...manifest, file: tierName, tier }, null, 2)}\n`,
        },
        { path: `${target}${CHECKSUM_SUFFIX}`, data: checksumLine(sha256, tierName) },
    ], async () => {
        try {
            await (0,promises_.link)(dailyFile, target);
        }
        catch (err) {
            const code = err.code;
            if (code === "EEXIST")
                throw new Error(`Refusing to overwrite ${target}: a file with that name already exists`);
            if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP")
                throw err;
            await copyFileAtomic(dailyFile, target);
        }
    });
    return target;
}

;// CONCATENATED MODULE: ./src/backup/remote-holdings.ts





const HOLDINGS_DEADLINE_MS = 60_000;
/**
 * Lists a destination once and judges the weekly/monthly backups the decisions need (a few sidecar reads
 * at a time): the current period's, which decide what is due there, and those retention keeps, which
 * decide what catch-up makes up. Older ones and dailies are not read.
 */
async function readRemoteHoldings(store, prefix, scope) {
    const objects = await store.list();
    scope.signal?.throwIfAborted();
    // Retention's periods, and at least the current one (a policy of 0 keeps none, yet decides what is due).
    const needed = (name) => withinRetention(name.tier, name.takenAt, { ...scope.policy, [name.tier]: Math.max(1, scope.policy[name.tier]) }, scope.now, scope.schedule);
    const entries = await listCatalog(store, {
        prefix,
        tiers: PROMOTED_TIERS,
        objects,
        include: needed,
        signal: scope.signal,
    });
    return { names: new Set(objects.map((o) => o.name)), backups: byTier(entries) };
}
/** `work`, or the signal's reason as soon as it is aborted (the work itself is left to settle unheard). */
function unlessAborted(work, signal) {
    return new Promise((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        if (signal.aborted)
            return onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
        work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
}
/**
 * Reads what each ready destination holds, in parallel, within an overall deadline and the run's
 * cancellation. One whose listing fails or does not answer in time is logged and judged by BACKUP_DIR's
 * tiers, with nothing made up this run (its retention will say more).
 */
async function readHoldingsOf(stores, prefix, logger, scope) {
    const deadlineMs = scope.deadlineMs ?? HOLDINGS_DEADLINE_MS;
    const deadline = AbortSignal.timeout(deadlineMs);
    const signal = scope.signal ? AbortSignal.any([scope.signal, deadline]) : deadline;
    const read = await Promise.all(stores.map((store) => unlessAborted(readRemoteHoldings(store, prefix, { ...scope, signal }), signal).catch((err) => {
        if (scope.signal?.aborted)
            return undefined; // the run is cancelled: the caller says so
        const why = deadline.aborted
            ? `it did not answer within ${deadlineMs / 1000} s`
            : err.message;
        logger.warn(`Could not list what ${store.location} holds (${why}): its weekly/monthly copies follow ` +
            "BACKUP_DIR's and nothing it misses is made up this run");
        return undefined;
    })));
    return new Map(stores.map((s, i) => [s, read[i]]));
}
/**
 * The promoted tiers due at one destination, judged from what it holds (not from BACKUP_DIR): when the
 * promotion day's upload failed there, the next run's copy goes there as weekly/monthly too. Without a
 * listing (it failed), BACKUP_DIR's judgement stands.
 */
function tiersDueAt(holdings, localDue, at, schedule) {
    return holdings ? tiersDueAmong(holdings.backups, at, schedule) : [...localDue];
}
/** Today's objects per destination: the daily name, plus each tier due there (logged when BACKUP_DIR differs). */
function uploadTargets(holdings, localDue, name, schedule, logger) {
    return [...holdings].map(([store, held]) => {
        const due = tiersDueAt(held, localDue, name.takenAt, schedule);
        for (const tier of due.filter((t) => !localDue.includes(t))) {
            logger.info(`${store.location} holds no ${tier} backup for this ${tier === "weekly" ? "week" : "month"} (its upload failed or ` +
                `was skipped): today's backup goes there as ${tier} too`);
        }
        return { store, names: [name, ...due.map((t) => name.withTier(t))].map((n) => n.toString()) };
    });
}
/** Holdings with the names stored since they were read (today's upload), which are complete backups. */
function withUploaded(holdings, uploaded) {
    const backups = { ...holdings.backups };
    for (const fileName of uploaded) {
        const name = BackupName.parse(fileName);
        if (!name || holdings.names.has(fileName))
            continue;
        backups[name.tier] = [...backups[name.tier], { fileName, name, valid: true, companions: [] }];
    }
    const complete = uploaded.flatMap((f) => [f, `${f}${CHECKSUM_SUFFIX}`, `${f}${MANIFEST_SUFFIX}`]);
    return { names: new Set([...holdings.names, ...complete]), backups };
}

;// CONCATENATED MODULE: ./src/backup/stages/outgoing.ts





/** How long an upload may take no bytes before it is failed, as the first destination sets it. */
function stallTimeoutOf(destinations) {
    return destinations[0]?.settings.transfer.stallTimeoutMs ?? storage_transfer/* DEFAULT_TRANSFER */._M.stallTimeoutMs;
}
/**
 * A backup on its way out: a partial file that gets its final name only on `publish`, and uploads
 * that store their objects only on `finishUploads`. Until then `abandon` removes the partial file
 * and aborts the uploads with their leftovers (multipart parts, sessions, staged blocks).
 */
class OutgoingBackup {
    output;
    started;
    uploadFailures;
    fanOut;
    settled = false;
    constructor(output, started, 
    /** Destinations whose upload could not start. */
    uploadFailures, fanOut) {
        this.output = output;
        this.started = started;
        this.uploadFailures = uploadFailures;
        this.fanOut = fanOut;
    }
    /** Creates the partial file and starts the uploads; those that cannot start are reported. */
    static async open(targets, logger) {
        const output = await AtomicFile.create(targets.file);
        let uploads;
        try {
            uploads = await startUploads(uploadTargets(targets.holdings, targets.due, targets.name, targets.schedule, logger), targets.encrypted ? "application/pgp-encrypted" : "application/octet-stream", logger, targets.previousSizeBytes);
            const fanOut = uploads.started.length > 0
                ? new FanOut(output.stream, uploads.started, {
                    stallTimeoutMs: targets.stallTimeoutMs,
                    onBranchFailure: (uri, error) => logger.error(`Upload to ${uri} failed: ${error.message}; the local backup continues`),
                })
                : undefined;
            return new OutgoingBackup(output, uploads.started, uploads.failed, fanOut);
        }
        catch (err) {
            // A partial file is never left behind, nor an upload that was started (before 0f4d910's split,
            // a failure here left the partial for the next run's sweep).
            await output.abort();
            for (const started of uploads?.started ?? [])
                await started.upload.abort(err).catch(() => { });
            throw err;
        }
    }
    /**
     * Removes the partial file and aborts the uploads, none of which was ended, so no object of this
     * backup exists in any bucket. Once: a backup already abandoned or published is left alone.
     */
    async abandon(err) {
        if (this.settled)
            return;
        this.settled = true;
        await this.output.abort();
        if (this.fanOut) {
            this.fanOut.abortUploads(err);
            await this.fanOut.outcomes();
        }
    }
    /** Gives the local file its final name (after its companions: see publishWithCompanions). */
    async publish() {
        await this.output.publish();
        this.settled = true;
    }
    /** Lets the uploads store their objects under the final names: only once the file is published. */
    finishUploads() {
        this.fanOut?.finishUploads();
    }
}

;// CONCATENATED MODULE: ./src/backup/stages/dump.ts








/**
 * The third stage: pg_dump → compression → optional GPG → partial file (and the clouds) in one
 * streamed pass, in an exported snapshot that the manifest's catalog is read in too. A failed dump
 * leaves nothing: the partial file is removed and the uploads are aborted. The partial file and its
 * uploads are put in `held` as soon as they exist.
 */
async function dump(run, plan, workDir, held) {
    const { config, logger, signal } = run;
    const file = external_node_path_default().join(workDir, plan.name.toString());
    const outgoing = await OutgoingBackup.open({
        file,
        name: plan.name,
        due: plan.due,
        holdings: plan.holdings,
        schedule: config.schedule,
        encrypted: !!plan.encryptor,
        previousSizeBytes: plan.previousSizeBytes,
        stallTimeoutMs: stallTimeoutOf(config.destinations),
    }, logger);
    held.outgoing = outgoing;
    const { output, fanOut } = outgoing;
    let snapshot;
    try {
        snapshot = await ExportedSnapshot.open(config.connection, signal);
        const dumpArgs = config.format === "custom"
            ? ["--format=custom", `--compress=${config.compression === "none" ? 0 : config.compressionLevel}`]
            : ["--format=plain"];
        // Plain dumps are counted from the stream itself (exactly what the file holds, no load on the
        // live database); custom archives cannot be read in flight, so they are counted in the snapshot.
        const countInStream = config.format === "plain" && config.rowCounts === "exact";
        // What the manifest records is read on its own connection in the same snapshot: a catalog that
        // cannot be read (permissions, a cancelled query) is a warning, and never touches the dump.
        const described = snapshot.describe(countInStream ? "off" : config.rowCounts).then((d) => {
            if (d.catalog.error)
                logger.warn(`Could not read the catalog for the manifest: ${d.catalog.error}; the backup continues without it`);
            if (d.database.error)
                logger.warn(`Could not read the database's properties (ACL, comment, settings) for the manifest: ${d.database.error}; ` +
                    "the backup continues, and a restore will not re-apply them");
            return d;
        });
        const [dumped, description] = await Promise.all([
            runDumpPipeline({
                pgDump: plan.pgDump,
                args: [...dumpArgs, `--snapshot=${snapshot.id}`],
                env: libpqEnvironment(config.connection),
                format: config.format,
                compression: config.compression,
                level: config.compressionLevel,
                threads: (0,external_node_os_.availableParallelism)(),
                countRows: countInStream,
                encryptor: plan.encryptor,
                output,
                ...(fanOut ? { sink: fanOut } : {}),
                backupDir: config.backupDir,
                ...(signal ? { signal } : {}),
            }),
            described,
        ]);
        const sqlCatalog = description.catalog;
        const databaseProperties = plan.encryptor
            ? await sealSettings(description.database, plan.encryptor, logger)
            : description.database;
        const catalog = countInStream ? withStreamCounts(sqlCatalog, dumped.rowCounts ?? new Map()) : sqlCatalog;
        logger.info(`Dumped ${dumped.dumpBytes ?? "an unreported number of"} bytes via ${dumped.topology}`);
        await output.sync(); // published by the next stage, after its manifest and sidecar
        const sizeBytes = (await (0,promises_.stat)(output.tempPath)).size;
        return {
            file,
            outgoing,
            dumpBytes: dumped.dumpBytes,
            sha256: dumped.sha256,
            sizeBytes,
            catalog,
            databaseProperties,
        };
    }
    catch (err) {
        await outgoing.abandon(err);
        throw err;
    }
    finally {
        await snapshot?.close();
    }
}
/** The properties with their settings encrypted to the backup's recipient (the manifest is in the clear). */
async function sealSettings(properties, encryptor, logger) {
    if (properties.error || properties.settings.length === 0)
        return properties;
    try {
        return {
            ...properties,
            settings: [],
            sealedSettings: await sealText(encryptor, JSON.stringify(properties.settings)),
        };
    }
    catch (err) {
        const error = `the database settings could not be encrypted for the manifest: ${err.message}`;
        logger.warn(`${error}; the backup continues, and a restore will not re-apply the database's properties`);
        return { ...properties, settings: [], error };
    }
}
/** The snapshot's catalog with each table's rows as counted in the dump stream. */
function withStreamCounts(catalog, counts) {
    if (catalog.error)
        return catalog;
    return {
        ...catalog,
        rowCounts: "exact",
        rowCountSource: "dump stream",
        tables: catalog.tables.map((t) => ({ name: t.name, rows: counts.get(t.name) ?? null })),
    };
}

;// CONCATENATED MODULE: ./src/backup/stages/file-tiers.ts

/**
 * The fifth stage: files the published daily backup under each tier due (weekly/monthly) in
 * `backupDir`. Only after the daily backup is safely in place; a failure is loud but never undoes or
 * fails it. Returns every tier filed, daily first.
 */
async function fileTiers(backupDir, dailyFile, name, due, sha256, logger) {
    const tiers = [{ tier: "daily", file: dailyFile }];
    try {
        for (const tier of due) {
            const tierFile = await fileUnderTier(backupDir, dailyFile, name, tier, sha256);
            tiers.push({ tier, file: tierFile });
            logger.info(`Filed as ${tier}: ${tierFile}`);
        }
    }
    catch (err) {
        logger.error(`Could not file the backup under weekly/monthly: ${err.message}; the daily backup is intact`);
    }
    return tiers;
}

;// CONCATENATED MODULE: ./src/backup/catch-up-plan.ts





/** The valid backups of every tier in BACKUP_DIR with this prefix, with their sizes and manifests. */
async function listLocalBackupFiles(backupDir, prefix) {
    const out = [];
    for (const tier of TIERS) {
        const store = tierStore(backupDir, tier);
        for (const backup of await listCatalog(store, { prefix, tiers: [tier] })) {
            if (!backup.valid)
                continue;
            const file = store.uri(backup.fileName);
            const manifest = await readManifestOf(store, backup.fileName);
            out.push({ tier, backup, file, sizeBytes: backup.sizeBytes, ...manifest });
        }
    }
    return out;
}
/**
 * A backup's manifest, parsed defensively: none (no file) is fine; one that is not a regular file, too
 * large, or not a JSON object with a SHA-256 and size is a problem named for the operator, never a TypeError.
 */
async function readManifestOf(store, fileName) {
    const manifestFile = store.uri(`${fileName}${MANIFEST_SUFFIX}`);
    let text;
    try {
        text = await readManifestText(store, fileName);
    }
    catch (err) {
        return {
            manifest: undefined,
            manifestProblem: `${manifestFile} cannot be read: ${err.message}`,
        };
    }
    if (text === undefined)
        return { manifest: undefined };
    let parsed;
    try {
        parsed = JSON.parse(text);
    }
    catch {
        return { manifest: undefined, manifestProblem: `${manifestFile} is not valid JSON` };
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return { manifest: undefined, manifestProblem: `${manifestFile} is not a JSON object` };
    }
    const record = parsed;
    if (typeof record.sha256 !== "string" || typeof record.sizeBytes !== "number") {
        return { manifest: undefined, manifestProblem: `${manifestFile} records no sha256 and sizeBytes` };
    }
    return { manifest: parsed };
}
const periodOf = (tier, at, schedule) => (tier === "weekly"
    ? weekPeriodStart(at, schedule.weeklyDay)
    : monthPeriodStart(at, schedule.monthlyDay)).getTime();
const TIER_RANK = { monthly: 0, weekly: 1, daily: 2 };
/** Newest first; at the same moment the longer-kept tier first (monthly, weekly, daily). */
const catch_up_plan_newestFirst = (a, b) => b.backup.name.takenAt.getTime() - a.backup.name.takenAt.getTime() || TIER_RANK[a.tier] - TIER_RANK[b.tier];
/**
 * What a destination lacks of BACKUP_DIR, newest first: dailies that retention still keeps, and the
 * weekly/monthly backups of periods (within retention) for which it holds no valid one. When the run
 * encrypts (`encryptTo`, the current key's fingerprint), only backups encrypted to that key may go off
 * site; the others, and those a leftover object blocks, are `skipped`. Pure.
 */
function missingAt(local, holdings, policy, schedule, now, encryptTo) {
    const covered = new Set();
    for (const tier of ["weekly", "monthly"]) {
        for (const b of holdings.backups[tier]) {
            if (b.valid)
                covered.add(`${tier}:${periodOf(tier, b.name.takenAt, schedule)}`);
        }
    }
    const missing = [];
    const skipped = [];
    for (const candidate of [...local].sort(catch_up_plan_newestFirst)) {
        const { tier, backup } = candidate;
        const names = [
            backup.fileName,
            `${backup.fileName}${CHECKSUM_SUFFIX}`,
            `${backup.fileName}${MANIFEST_SUFFIX}`,
        ];
        // Data and sidecar: the destination has it (retention judges its sidecar's contents).
        if (holdings.names.has(names[0]) && holdings.names.has(names[1]))
            continue;
        if (backup.name.takenAt.getTime() > now.getTime())
            continue;
        if (!withinRetention(tier, backup.name.takenAt, policy, now, schedule))
            continue;
        // One weekly/monthly per period: the newest of it, and none where the destination already has one.
        const key = tier === "daily" ? undefined : `${tier}:${periodOf(tier, backup.name.takenAt, schedule)}`;
        if (key !== undefined && covered.has(key))
            continue;
        // Part of it is there without a complete backup: uploading would fail on the name taken (no
        // overwrites), every night. It is reported, not tried; an older one of its period may stand in.
        const leftover = names.find((n) => holdings.names.has(n));
        if (leftover !== undefined) {
            skipped.push({ file: candidate, leftover });
            continue;
        }
        const fingerprint = candidate.manifest?.encryption?.fingerprint?.toUpperCase();
        if (encryptTo !== undefined && !(backup.name.encrypted && fingerprint === encryptTo.toUpperCase())) {
            skipped.push({ file: candidate });
            continue;
        }
        if (key !== undefined)
            covered.add(key);
        missing.push(candidate);
    }
    return { missing, skipped };
}
/**
 * Applies the bound to a destination's missing backups, newest first and in order: once one does not
 * fit, the older ones wait for the next run too. A backup larger than the whole byte bound could never
 * fit: it is set aside (reported) rather than blocking every older one forever.
 */
function boundCatchUp(missing, limits) {
    const take = [];
    const left = [];
    const tooLarge = [];
    let bytes = 0;
    let full = false;
    for (const m of missing) {
        if (limits.maxBytes !== undefined && m.sizeBytes > limits.maxBytes) {
            tooLarge.push(m);
            continue;
        }
        if (full ||
            take.length >= limits.maxFiles ||
            (limits.maxBytes !== undefined && bytes + m.sizeBytes > limits.maxBytes)) {
            full = true;
            left.push(m);
            continue;
        }
        take.push(m);
        bytes += m.sizeBytes;
    }
    return { take, left, tooLarge };
}

;// CONCATENATED MODULE: ./src/backup/catch-up.ts













const MIB = 1024 * 1024;
/**
 * Uploads to each destination, from BACKUP_DIR, the backups it is missing (`missingAt`), newest first,
 * within the bound. Each file is read once for every destination that lacks it, hashed on the way and
 * compared with its sidecar before any upload is completed; completion (manifest, checksum metadata,
 * sidecar last) is the normal upload's.
 */
async function catchUp(run) {
    const { logger, limits } = run;
    const progress = new Map();
    for (const [store, holdings] of run.destinations) {
        const { missing, skipped } = missingAt(run.local, holdings, run.policy, run.schedule, run.now, run.encryptTo);
        const { take, left, tooLarge } = boundCatchUp(missing, limits);
        const skips = skipped.map(({ file, leftover }) => `${file.backup.fileName}: ${leftover === undefined
            ? "not encrypted to the current key: not uploaded"
            : `blocked by the leftover ${store.uri(leftover)}: delete it to let catch-up fill it`}`);
        progress.set(store, {
            take,
            uris: [],
            left: left.map((m) => m.backup.fileName),
            notTried: [],
            tooLarge: tooLarge.map((m) => m.backup.fileName),
            skipped: skips,
            errors: [],
            bytes: 0,
            seconds: 0,
            stopped: false,
        });
        for (const skip of skips)
            logger.warn(`Catch-up ${store.location}: ${skip}`);
        if (missing.length === 0) {
            if (skips.length === 0)
                logger.info(`Catch-up ${store.location}: nothing missing`);
            continue;
        }
        logger.info(`Catch-up ${store.location}: ${missing.length} backup(s) missing there; uploading ${take.length} now, newest first` +
            (left.length > 0
                ? ` (${left.length} left for the next runs by BACKUP_CATCHUP_MAX_FILES=${limits.maxFiles}` +
                    `${limits.maxBytes === undefined ? "" : ` / BACKUP_CATCHUP_MAX_MB=${limits.maxBytes / MIB}`})`
                : ""));
        for (const m of tooLarge) {
            logger.warn(`Catch-up ${store.location}: ${m.backup.fileName} (${(m.sizeBytes / MIB).toFixed(1)} MiB) is larger than ` +
                "BACKUP_CATCHUP_MAX_MB on its own and is not uploaded: raise BACKUP_CATCHUP_MAX_MB to make it up");
        }
    }
    // One pass per file, newest first, feeding every destination that lacks it.
    const files = new Map();
    for (const [store, p] of progress) {
        for (const candidate of p.take) {
            const entry = files.get(candidate.file) ?? { candidate, stores: [] };
            entry.stores.push(store);
            files.set(candidate.file, entry);
        }
    }
    const order = [...files.values()].sort((a, b) => catch_up_plan_newestFirst(a.candidate, b.candidate));
    for (const { candidate, stores } of order) {
        const live = stores.filter((s) => !progress.get(s)?.stopped && !run.signal?.aborted);
        for (const s of stores)
            if (!live.includes(s))
                progress.get(s)?.notTried.push(candidate.backup.fileName);
        if (live.length === 0)
            continue;
        const outcome = await uploadFromLocal(candidate, live, run);
        for (const report of outcome.reports) {
            const store = live.find((s) => s.location === report.location);
            const p = store && progress.get(store);
            if (!p)
                continue;
            p.bytes += report.ok ? report.bytes : 0;
            p.seconds += report.seconds;
            if (report.ok) {
                p.uris.push(...report.uris);
                continue;
            }
            p.errors.push(report.error ?? "unknown error");
            p.notTried.push(candidate.backup.fileName);
            // A bad local file is that file's problem; a failed upload is the destination's.
            if (!outcome.localProblem)
                p.stopped = true;
        }
    }
    const reports = new Map();
    const byNameNewestFirst = (names) => names.sort((a, b) => (BackupName.parse(b)?.takenAt.getTime() ?? 0) - (BackupName.parse(a)?.takenAt.getTime() ?? 0));
    for (const [store, p] of progress) {
        const waiting = p.left.length + p.notTried.length;
        if (p.uris.length > 0) {
            logger.info(`Catch-up ${store.location}: uploaded ${p.uris.length} missing backup(s), ${(p.bytes / MIB).toFixed(1)} MiB` +
                (waiting > 0 ? `; ${waiting} still missing, left for the next runs` : ""));
        }
        reports.set(store, {
            uris: p.uris,
            bytes: p.bytes,
            seconds: p.seconds,
            left: p.left,
            notTried: byNameNewestFirst(p.notTried),
            tooLarge: p.tooLarge,
            skipped: p.skipped,
            ...(p.errors.length > 0 ? { error: p.errors.join("; ") } : {}),
        });
    }
    return reports;
}
/** Discards what it is given: the local file is the source here, not a destination. */
const discard = () => new external_node_stream_.Writable({
    write(_chunk, _encoding, callback) {
        callback();
    },
});
async function uploadFromLocal(candidate, stores, run) {
    const { file, backup, manifest } = candidate;
    let sha256;
    try {
        // The sidecar is the record (as for verify and restore); the manifest, when there is one, must agree.
        // Read again: it may have changed since the catalog judged it.
        const sidecar = await readSidecar(new LocalStore(external_node_path_default().dirname(file)), external_node_path_default().basename(file));
        if (sidecar.state === "absent")
            throw new Error(`its ${CHECKSUM_SUFFIX} sidecar is gone`);
        if (sidecar.state !== "ok")
            throw new Error(sidecar.state === "bad" ? sidecar.problem : "unread sidecar");
        if (candidate.manifestProblem)
            throw new Error(candidate.manifestProblem);
        if (manifest && manifest.sha256 !== sidecar.sha256) {
            throw new Error(`its manifest records sha256 ${manifest.sha256}, its ${CHECKSUM_SUFFIX} sidecar ${sidecar.sha256}`);
        }
        if (manifest && manifest.sizeBytes !== candidate.sizeBytes) {
            throw new Error(`its manifest records ${manifest.sizeBytes} bytes, the file has ${candidate.sizeBytes}`);
        }
        sha256 = sidecar.sha256;
    }
    catch (err) {
        const error = `${file} cannot be caught up: ${err.message}; check it with 'lifeline verify'`;
        run.logger.error(error);
        return { reports: stores.map((store) => failedReport(store, error, "catch-up")), localProblem: true };
    }
    const uploads = await startUploads(stores.map((store) => ({ store, names: [backup.fileName] })), backup.name.encrypted ? "application/pgp-encrypted" : "application/octet-stream", run.logger, candidate.sizeBytes);
    if (uploads.started.length === 0)
        return { reports: uploads.failed, localProblem: false };
    const digest = new DigestTap();
    const fanOut = new FanOut(discard(), uploads.started, {
        stallTimeoutMs: run.stallTimeoutMs,
        onBranchFailure: (uri, error) => run.logger.error(`Catch-up upload to ${uri} failed: ${error.message}`),
    });
    // The source never fails the stream (failed uploads are cut loose): a rejection is the local file's
    // (unreadable, changed) or the run's cancellation.
    let failure;
    try {
        await (0,external_node_stream_promises_namespaceObject.pipeline)((await openRegularFile(file)).createReadStream({ highWaterMark: 1 << 20 }), digest, fanOut, ...(run.signal ? [{ signal: run.signal }] : []));
        const actual = digest.hex();
        if (actual !== sha256) {
            throw new Error(`${file} no longer matches its ${CHECKSUM_SUFFIX} sidecar (read ${actual}, recorded ${sha256}): it was not ` +
                "uploaded; check it with 'lifeline verify'");
        }
        // Only a file proven to be the recorded backup is stored under its final name.
        fanOut.finishUploads();
    }
    catch (err) {
        failure = err;
        fanOut.abortUploads(failure);
        if (!run.signal?.aborted)
            run.logger.error(`Catch-up from ${file} stopped: ${failure.message}`);
    }
    const localProblem = failure !== undefined && !run.signal?.aborted;
    const reports = await completeUploads(uploads.started, await fanOut.outcomes(), { sha256, manifest }, run.logger);
    return {
        reports: [...uploads.failed, ...reports.map((r) => (r.ok ? r : { ...r, stage: "catch-up" }))],
        localProblem,
    };
}
/**
 * After today's uploads: makes up, at every destination where today's copy arrived and whose holdings
 * were read, what it is missing (`catchUp`), and adds the outcome to its report. A failed catch-up
 * fails the destination's report (the run exits 1); what the bound leaves is reported, not failed.
 */
async function makeUpMissing(offsite, holdings, options) {
    if (options.limits.maxFiles === 0)
        return [...offsite];
    const destinations = new Map();
    for (const report of offsite) {
        const entry = [...holdings].find(([s]) => s.location === report.location);
        if (!report.ok || !entry?.[1])
            continue;
        destinations.set(entry[0], withUploaded(entry[1], report.uris.map((u) => u.slice(report.location.length))));
    }
    if (destinations.size === 0)
        return [...offsite];
    let reports;
    try {
        reports = await catchUp({
            ...options,
            destinations,
            local: await listLocalBackupFiles(options.backupDir, options.prefix),
        });
    }
    catch (err) {
        // BACKUP_DIR could not be read (say): every destination's catch-up failed, and says so.
        const error = `${err.message}; nothing missing was made up this run`;
        options.logger.error(`Catch-up failed: ${error}`);
        reports = new Map([...destinations.keys()].map((store) => [
            store,
            { uris: [], bytes: 0, seconds: 0, left: [], notTried: [], tooLarge: [], skipped: [], error },
        ]));
    }
    return offsite.map((report) => {
        const c = [...reports].find(([s]) => s.location === report.location)?.[1];
        if (!c)
            return report;
        return c.error === undefined
            ? { ...report, catchUp: c }
            : { ...report, catchUp: c, ok: false, error: `catch-up: ${c.error}`, stage: "catch-up" };
    });
}

;// CONCATENATED MODULE: ./src/backup/stages/off-site.ts


/**
 * The off-site stage: waits for the uploads and completes each object (manifest, checksum, sidecar
 * last), then makes up at each destination that received today's backup what it is missing.
 */
async function completeOffsite(options) {
    const { outgoing, logger, signal } = options;
    const uploaded = [
        ...options.preflightFailures,
        ...outgoing.uploadFailures,
        ...(outgoing.fanOut
            ? await completeUploads(outgoing.started, await outgoing.fanOut.outcomes(), options.record, logger)
            : []),
    ];
    const arrived = new Set(uploaded.filter((o) => o.ok).map((o) => o.location));
    const reports = await makeUpMissing(uploaded, options.holdings, {
        backupDir: options.backupDir,
        prefix: options.prefix,
        policy: options.policy,
        schedule: options.schedule,
        now: options.now(),
        limits: options.limits,
        encryptTo: options.encryptTo,
        stallTimeoutMs: options.stallTimeoutMs,
        logger,
        ...(signal ? { signal } : {}),
    });
    return { reports, arrived };
}

// EXTERNAL MODULE: external "node:util"
var external_node_util_ = __nccwpck_require__(7975);
;// CONCATENATED MODULE: ./src/process/process-identity.ts

function bootId() {
    try {
        return (0,external_node_fs_.readFileSync)("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
    }
    catch {
        return undefined;
    }
}
function pidNamespace() {
    try {
        return (0,external_node_fs_.readlinkSync)("/proc/self/ns/pid");
    }
    catch {
        return undefined;
    }
}
function procStart(pid) {
    try {
        const stat = (0,external_node_fs_.readFileSync)(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
    }
    catch {
        return undefined;
    }
}
/** This process, as ProcessIdentity. */
function ownIdentity() {
    const ns = pidNamespace();
    const boot = bootId();
    const start = procStart(process.pid);
    return {
        pid: process.pid,
        ...(ns ? { pidNamespace: ns } : {}),
        ...(boot ? { bootId: boot } : {}),
        ...(start ? { procStart: start } : {}),
    };
}
/** True while `pid` (of this namespace) runs; a zombie (exited, not yet reaped) counts as gone. */
function pidRunning(pid) {
    try {
        process.kill(pid, 0);
    }
    catch (err) {
        return err.code === "EPERM";
    }
    try {
        return !/^\d+ \(.*\) Z/s.test((0,external_node_fs_.readFileSync)(`/proc/${pid}/stat`, "utf8"));
    }
    catch {
        return true; // no /proc (macOS): the signal said it exists
    }
}
/**
 * Whether the process `owner` recorded can be judged from here, and how:
 * - "dead": it ran on an earlier boot of this machine, or in this PID namespace and is gone (or its pid
 *   now belongs to another process, told by its start time);
 * - "alive": it runs in this namespace;
 * - "unknown": another PID namespace, or no namespace/boot recorded (another container, an older
 *   version): nothing here can tell whether it still runs.
 */
function judgeOwner(owner) {
    const me = ownIdentity();
    if (owner.bootId && me.bootId && owner.bootId !== me.bootId)
        return "dead";
    if (!owner.pidNamespace || !me.pidNamespace || owner.pidNamespace !== me.pidNamespace)
        return "unknown";
    if (owner.bootId === undefined || me.bootId === undefined)
        return "unknown";
    if (owner.pid === process.pid)
        return owner.procStart === me.procStart ? "alive" : "dead";
    if (!pidRunning(owner.pid))
        return "dead";
    const now = procStart(owner.pid);
    if (owner.procStart !== undefined && now !== undefined && now !== owner.procStart)
        return "dead";
    return "alive";
}

;// CONCATENATED MODULE: ./src/crypto/gpg-home.ts







/**
 * Temporary homes are named `lifeline-gnupg-<pid>-XXXXXX` and hold OWNER_FILE, the identity of the run
 * that made them (pid, PID namespace, boot id, start time): a later run sweeps a home only when that
 * tells its owner is gone.
 */
const HOME_PREFIX = "lifeline-gnupg-";
const OWNER_FILE = "lifeline-owner.json";
const AGENT_EXIT_WAIT_MS = 3_000;
/**
 * Homes with no owner recorded (`lifeline-gnupg-XXXXXX` of earlier Lifeline versions, or one whose
 * owner file is missing) are swept once this old: no run keeps a keyring for 6 hours.
 */
const UNOWNED_HOME_MAX_AGE_MS = 6 * 3600_000;
/** Homes of this process not yet disposed: removed synchronously on exit (process.exit included). */
const live = new Set();
let exitHookInstalled = false;
/**
 * A GNUPGHOME made for one run (a key given as ASCII armour), owned by this process. gpg starts a
 * gpg-agent (and possibly a dirmngr) per home that outlives gpg itself and keeps the secret key in
 * memory: `dispose` kills them and removes the home; on process exit, anything left is disposed
 * synchronously; and `create` first sweeps the homes of earlier runs whose process is gone (SIGKILL).
 */
class TemporaryGpgHome {
    path;
    disposed = false;
    constructor(path) {
        this.path = path;
    }
    static async create() {
        await sweepAbandonedGpgHomes();
        // Synchronously: made and registered for disposal in one step, so no exit can come between them.
        const home = (0,external_node_fs_.mkdtempSync)(external_node_path_default().join((0,external_node_os_.tmpdir)(), `${HOME_PREFIX}${process.pid}-`));
        live.add(home);
        installExitHook();
        (0,external_node_fs_.chmodSync)(home, 0o700);
        (0,external_node_fs_.writeFileSync)(external_node_path_default().join(home, OWNER_FILE), `${JSON.stringify(ownIdentity())}\n`, { mode: 0o600 });
        return new TemporaryGpgHome(home);
    }
    /** Kills the home's gpg daemons, waits for them to exit, then removes the home. Safe to call twice. */
    async dispose() {
        if (this.disposed)
            return;
        this.disposed = true;
        await disposeHome(this.path);
        live.delete(this.path);
    }
}
/** Kills the daemons gpg started for `home` (gpg-agent, dirmngr...) and removes the directory. */
async function disposeHome(home) {
    const pid = await agentPid(home);
    await run("gpgconf", ["--homedir", home, "--kill", "all"]);
    if (pid !== undefined)
        await waitForExit(pid);
    await (0,promises_.rm)(home, { recursive: true, force: true });
}
function disposeHomeSync(home) {
    const pid = parseAgentPid((0,external_node_child_process_.spawnSync)("gpg-connect-agent", ["--homedir", home, "--no-autostart", "getinfo pid", "/bye"], {
        encoding: "utf8",
        env: childEnvironment(),
        timeout: 5_000,
    }).stdout ?? "");
    (0,external_node_child_process_.spawnSync)("gpgconf", ["--homedir", home, "--kill", "all"], {
        stdio: "ignore",
        env: childEnvironment(),
        timeout: 5_000,
    });
    if (pid !== undefined) {
        const deadline = Date.now() + AGENT_EXIT_WAIT_MS;
        const pause = new Int32Array(new SharedArrayBuffer(4));
        while (pidRunning(pid) && Date.now() < deadline)
            Atomics.wait(pause, 0, 0, 20);
        if (pidRunning(pid))
            signal(pid, "SIGKILL");
    }
    (0,external_node_fs_.rmSync)(home, { recursive: true, force: true, maxRetries: 3 });
}
function installExitHook() {
    if (exitHookInstalled)
        return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const home of live) {
            try {
                disposeHomeSync(home);
            }
            catch {
                // exiting: nothing more can be done; the next run sweeps what is left
            }
        }
        live.clear();
    });
}
/**
 * Disposes the temporary gpg homes in `dir` left by Lifeline runs whose process no longer exists
 * (killed with SIGKILL, or a runner that lost the job): their agents still hold the secret key.
 * Only real directories (never a symlink planted in a shared TMPDIR) owned by this user with mode 0700
 * are considered, and only when their recorded owner is surely gone: it ran on an earlier boot, or in
 * this PID namespace and has exited. A home of another PID namespace (a container sharing TMPDIR) is
 * left alone, since nothing here tells whether its run is alive. A home with no owner recorded (earlier
 * versions) is swept once older than UNOWNED_HOME_MAX_AGE_MS.
 */
async function sweepAbandonedGpgHomes(dir = (0,external_node_os_.tmpdir)()) {
    const swept = [];
    for (const name of await (0,promises_.readdir)(dir).catch(() => [])) {
        if (!name.startsWith(HOME_PREFIX))
            continue;
        const home = external_node_path_default().join(dir, name);
        if (live.has(home) || !(await abandoned(home)))
            continue;
        await disposeHome(home).catch(() => { });
        swept.push(name);
    }
    return swept;
}
async function abandoned(home) {
    const info = await (0,promises_.lstat)(home).catch(() => undefined);
    const uid = process.getuid?.();
    if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid) || (info.mode & 0o777) !== 0o700)
        return false;
    const owner = await readOwner(home);
    if (owner)
        return judgeOwner(owner) === "dead";
    return Date.now() - info.mtimeMs >= UNOWNED_HOME_MAX_AGE_MS;
}
async function readOwner(home) {
    const file = external_node_path_default().join(home, OWNER_FILE);
    const info = await (0,promises_.lstat)(file).catch(() => undefined);
    if (!info?.isFile())
        return undefined;
    try {
        const owner = JSON.parse(await (0,promises_.readFile)(file, "utf8"));
        return Number.isInteger(owner.pid) ? owner : undefined;
    }
    catch {
        return undefined;
    }
}
async function agentPid(home) {
    return parseAgentPid(await run("gpg-connect-agent", ["--homedir", home, "--no-autostart", "getinfo pid", "/bye"]));
}
/** `gpg-connect-agent 'getinfo pid'` answers "D <pid>" then "OK"; nothing when no agent runs. */
function parseAgentPid(output) {
    const pid = Number(/^D (\d+)$/m.exec(output)?.[1]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}
/** Runs a gpg helper, resolving its stdout; a failure (not installed, no agent) resolves "". */
function run(command, args) {
    return new Promise((resolve) => {
        (0,external_node_child_process_.execFile)(command, args, { env: childEnvironment(), timeout: 10_000 }, (_err, stdout) => resolve(String(stdout ?? "")));
    });
}
async function waitForExit(pid) {
    const deadline = Date.now() + AGENT_EXIT_WAIT_MS;
    while (pidRunning(pid) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
    if (pidRunning(pid))
        signal(pid, "SIGKILL");
}
function signal(pid, sig) {
    try {
        process.kill(pid, sig);
    }
    catch {
        // already gone
    }
}

;// CONCATENATED MODULE: ./src/crypto/gpg-keyring.ts




/** Options every gpg run of Lifeline gets: never prompt, never go to the network for keys. */
const GPG_BASE_ARGS = ["--batch", "--no-tty", "--disable-dirmngr", "--no-auto-key-retrieve"];
/**
 * The keyring encrypted backups are decrypted with: GNUPGHOME (or ~/.gnupg), or a temporary one holding
 * a secret key given as ASCII armour (e.g. from a CI secret), removed again with its gpg-agent by
 * `dispose`. The caller prepares it inside the try whose finally disposes it.
 */
class GpgDecryptKeyring {
    home;
    temporary;
    children = new Set();
    constructor(
    /** GNUPGHOME for gpg, or undefined for the user's default keyring. */
    home, temporary) {
        this.home = home;
        this.temporary = temporary;
    }
    static async prepare(privateKey, source = "BACKUP_GPG_PRIVATE_KEY") {
        if (privateKey === undefined)
            return new GpgDecryptKeyring(process.env.GNUPGHOME, undefined);
        const temporary = await TemporaryGpgHome.create();
        const home = temporary.path;
        try {
            await new Promise((resolve, reject) => {
                const child = (0,external_node_child_process_.execFile)("gpg", [...GPG_BASE_ARGS, "--quiet", "--import"], { env: childEnvironment({ ...process.env, GNUPGHOME: home }) }, (err, _stdout, stderr) => {
                    if (!err)
                        return resolve();
                    if (err.code === "ENOENT")
                        return reject(new shared_errors/* UserError */.yo("gpg is not installed: install GnuPG (apt-get install gnupg) to decrypt backups"));
                    reject(new shared_errors/* UserError */.yo(`The GPG secret key in ${source} could not be imported (${String(stderr).trim().split("\n").pop()}): ` +
                        "give it as exported by 'gpg --armor --export-secret-keys <key>', without a passphrase"));
                });
                child.stdin?.on("error", () => { });
                child.stdin?.end(privateKey);
            });
        }
        catch (err) {
            await temporary.dispose();
            throw err;
        }
        return new GpgDecryptKeyring(home, temporary);
    }
    /** A gpg process that decrypts stdin to stdout (never prompting: a key with a passphrase fails). */
    startDecrypt(stdin = true) {
        const child = startChildStage("gpg --decrypt", "gpg", [...GPG_BASE_ARGS, "--quiet", "--pinentry-mode", "error", "--decrypt"], { env: this.env(), stdin });
        this.children.add(child);
        child.exited.then(() => this.children.delete(child), () => this.children.delete(child));
        return child;
    }
    env() {
        return this.home ? { ...process.env, GNUPGHOME: this.home } : process.env;
    }
    /** Stops its gpg processes, then (temporary keyring) kills the home's gpg-agent and removes it. */
    async dispose() {
        const running = [...this.children];
        for (const child of running)
            child.kill();
        await Promise.allSettled(running.map((c) => c.exited));
        await this.temporary?.dispose();
    }
}

;// CONCATENATED MODULE: ./src/crypto/gpg.ts






const execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
/** Runs gpg non-interactively with a given home; resolves stdout, rejects with gpg's own words. */
async function gpg(home, args, input) {
    const env = childEnvironment(home ? { ...process.env, GNUPGHOME: home } : process.env);
    return new Promise((resolve, reject) => {
        const child = execFileAsync("gpg", [...GPG_BASE_ARGS, ...args], { env, maxBuffer: 4 << 20 });
        // gpg may exit before reading its input (bad key, nothing to read): that is reported by its exit code.
        child.child.stdin?.on("error", () => { });
        child.child.stdin?.end(input ?? "");
        child.then(({ stdout }) => resolve(stdout), (err) => {
            if (err.code === "ENOENT")
                reject(new shared_errors/* UserError */.yo("gpg is not installed: install GnuPG (apt-get install gnupg) to encrypt backups"));
            else
                reject(new Error((err.stderr ?? err.message).trim().split("\n").slice(-3).join(" | ")));
        });
    });
}
/**
 * The keyring backups are encrypted with: the user's own (GNUPGHOME or ~/.gnupg), or a temporary one
 * holding a public key given as ASCII armour. `prepare` proves the recipient usable before any dump.
 */
class GpgEncryptor {
    recipient;
    fingerprint;
    home;
    temporary;
    constructor(
    /** Fingerprint or name of the recipient, as gpg will be given it. */
    recipient, 
    /** Fingerprint of the recipient's primary key, for the manifest. */
    fingerprint, home, temporary) {
        this.recipient = recipient;
        this.fingerprint = fingerprint;
        this.home = home;
        this.temporary = temporary;
    }
    static async prepare(options) {
        const names = options.names ?? { publicKey: "BACKUP_GPG_PUBLIC_KEY", recipient: "BACKUP_GPG_RECIPIENT" };
        let home = process.env.GNUPGHOME;
        let temporary;
        let recipient = options.recipient;
        try {
            if (options.publicKey !== undefined) {
                if (holdsSecretKey(options.publicKey))
                    throw new shared_errors/* UserError */.yo(secretKeyAsPublicKey(names.publicKey));
                temporary = await TemporaryGpgHome.create();
                home = temporary.path;
                await gpg(home, ["--import"], options.publicKey).catch((err) => {
                    if (err instanceof shared_errors/* UserError */.yo)
                        throw err;
                    throw new shared_errors/* UserError */.yo(`The GPG public key in ${names.publicKey} could not be imported: ${err.message}. ` +
                        "Give the key as exported by 'gpg --armor --export <recipient>'");
                });
                if (holdsSecretKey(await gpg(home, ["--with-colons", "--list-secret-keys"]).catch(() => "")))
                    throw new shared_errors/* UserError */.yo(secretKeyAsPublicKey(names.publicKey));
            }
            if (recipient === undefined) {
                const imported = parseFingerprints(await gpg(home, ["--with-colons", "--list-keys"]));
                if (imported.length !== 1) {
                    throw new shared_errors/* UserError */.yo(`${names.publicKey} holds ${imported.length} keys: set ${names.recipient} to the one to encrypt to`);
                }
                recipient = imported[0];
            }
            const listed = await gpg(home, ["--with-colons", "--list-keys", "--", recipient]).catch(() => "");
            const fingerprint = parseFingerprints(listed)[0];
            if (!fingerprint) {
                throw new shared_errors/* UserError */.yo(`No GPG public key for recipient '${recipient}' (${names.recipient}) in ${home ?? "the default keyring (~/.gnupg)"}: ` +
                    `import it (gpg --import key.asc) or give it in ${names.publicKey}`);
            }
            // A trial encryption catches expired, revoked and sign-only keys before any dump starts.
            await gpg(home, encryptOptions(recipient), "lifeline key check").catch((err) => {
                throw new shared_errors/* UserError */.yo(`The GPG key for '${recipient}' cannot encrypt (${err.message}): it may be expired, revoked or lack an ` +
                    "encryption subkey; renew it or use another recipient");
            });
            return new GpgEncryptor(recipient, fingerprint, home, temporary);
        }
        catch (err) {
            await temporary?.dispose();
            throw err;
        }
    }
    /** A gpg process that encrypts stdin to stdout. */
    start() {
        const env = this.home ? { ...process.env, GNUPGHOME: this.home } : process.env;
        return startChildStage("gpg", "gpg", encryptArgs(this.recipient), {
            env,
            stdin: true,
        });
    }
    async dispose() {
        await this.temporary?.dispose();
    }
}
const secretKeyAsPublicKey = (setting) => `${setting} holds a SECRET key: it was not used and is not shown. ` +
    "Give the public key only (gpg --armor --export <recipient>) and keep the secret key off the backup host";
/** True for an armoured secret key block, or `--with-colons` output listing a secret key. */
function holdsSecretKey(text) {
    return /-----BEGIN PGP (PRIVATE|SECRET) KEY BLOCK-----/.test(text) || /^sec:/m.test(text);
}
/**
 * The argv of an encrypting gpg. Keys come from the local keyring only: no WKD, keyserver or DNS
 * lookup for an e-mail recipient (--no-auto-key-locate, and no dirmngr at all). Data is compressed
 * before encryption; gpg compressing again would only cost time.
 */
function encryptArgs(recipient) {
    return [...GPG_BASE_ARGS, ...encryptOptions(recipient)];
}
function encryptOptions(recipient) {
    return [
        "--no-auto-key-locate",
        "--quiet",
        "--trust-model",
        "always",
        "--compress-algo",
        "none",
        "--encrypt",
        "--output",
        "-",
        "--recipient",
        recipient,
    ];
}
/** Primary-key fingerprints from `gpg --with-colons` output. */
function parseFingerprints(colons) {
    const out = [];
    let expectFpr = false;
    for (const line of colons.split("\n")) {
        const fields = line.split(":");
        if (fields[0] === "pub")
            expectFpr = true;
        else if (fields[0] === "fpr" && expectFpr) {
            out.push(fields[9]);
            expectFpr = false;
        }
    }
    return out;
}

;// CONCATENATED MODULE: ./src/db/pg-tools.ts






const pg_tools_execFileAsync = (0,external_node_util_.promisify)(external_node_child_process_.execFile);
/** Directories that hold PostgreSQL client programs: PATH, then the distributions' versioned dirs. */
async function candidateDirs(binDir) {
    if (binDir)
        return [binDir];
    const dirs = (process.env.PATH ?? "").split((external_node_path_default()).delimiter).filter(Boolean);
    for (const root of ["/usr/lib/postgresql", "/usr/local/lib/postgresql"]) {
        const versions = await (0,promises_.readdir)(root).catch(() => []);
        for (const v of versions)
            dirs.push(external_node_path_default().join(root, v, "bin"));
    }
    for (const dir of await (0,promises_.readdir)("/usr").catch(() => [])) {
        if (/^pgsql-\d+$/.test(dir))
            dirs.push(external_node_path_default().join("/usr", dir, "bin"));
    }
    return [...new Set(dirs)];
}
async function probe(file) {
    try {
        await (0,promises_.access)(file, promises_.constants.X_OK);
        const { stdout } = await pg_tools_execFileAsync(file, ["--version"], {
            timeout: 10_000,
            env: childEnvironment(process.env, "libpq"),
        });
        const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(stdout);
        if (!match)
            return undefined;
        return { path: file, version: match[2] ? `${match[1]}.${match[2]}` : match[1], major: Number(match[1]) };
    }
    catch {
        return undefined;
    }
}
/** Every installed copy of a PostgreSQL client program, one per real path. */
async function findPgTools(name, binDir) {
    const found = new Map();
    for (const dir of await candidateDirs(binDir)) {
        const tool = await probe(external_node_path_default().join(dir, name));
        if (tool && ![...found.values()].some((t) => t.version === tool.version && t.major === tool.major)) {
            found.set(tool.path, tool);
        }
    }
    return [...found.values()];
}
/**
 * Picks the client program for a server of major version `serverMajor`. pg_dump must be at least as
 * new as the server; among those, the closest major is chosen, because a newer pg_dump emits settings
 * (e.g. transaction_timeout in 17) that older servers reject on restore. Tools that pass `prefer` (e.g. a
 * psql that can be restricted) come first, whatever their major.
 */
async function choosePgTool(name, serverMajor, binDir, prefer = () => true) {
    const tools = await findPgTools(name, binDir);
    const rank = (t) => (prefer(t) ? 0 : 1000) + t.major;
    const usable = tools.filter((t) => t.major >= serverMajor).sort((a, b) => rank(a) - rank(b));
    const chosen = usable[0];
    if (chosen)
        return chosen;
    const seen = tools.length
        ? tools.map((t) => `${t.version} at ${t.path}`).join(", ")
        : `none found${binDir ? ` in ${binDir}` : " in PATH or /usr/lib/postgresql/*/bin"}`;
    throw new shared_errors/* UserError */.yo(`The server runs PostgreSQL ${serverMajor}, but no ${name} of version ${serverMajor} or newer is installed ` +
        `(found: ${seen}). Install the PostgreSQL ${serverMajor} client (e.g. apt-get install postgresql-client-${serverMajor}) ` +
        "or set PG_BIN_DIR to its bin directory");
}

;// CONCATENATED MODULE: ./src/storage/open-store.ts
/**
 * The store behind one configured destination. Each SDK is loaded only when its destination is
 * configured: a local-only run does not pay for parsing three cloud SDKs at start-up. Every request
 * of the store ends when `signal` (the run's: SIGINT/SIGTERM) fires.
 */
async function openStore(destination, logger, signal) {
    switch (destination.kind) {
        case "s3": {
            const { S3Store } = await Promise.all(/* import() */[__nccwpck_require__.e(358), __nccwpck_require__.e(947)]).then(__nccwpck_require__.bind(__nccwpck_require__, 8947));
            return new S3Store(destination.settings, logger, signal);
        }
        case "gcs": {
            const { GcsStore } = await Promise.all(/* import() */[__nccwpck_require__.e(57), __nccwpck_require__.e(923), __nccwpck_require__.e(842)]).then(__nccwpck_require__.bind(__nccwpck_require__, 1842));
            return new GcsStore(destination.settings, logger, signal);
        }
        case "azure": {
            const { AzureStore } = await Promise.all(/* import() */[__nccwpck_require__.e(57), __nccwpck_require__.e(293), __nccwpck_require__.e(342)]).then(__nccwpck_require__.bind(__nccwpck_require__, 5342));
            return new AzureStore(destination.settings, logger, signal);
        }
    }
}

;// CONCATENATED MODULE: ./src/backup/name-check.ts






/** The files one backup is published as in a tier directory: the data, its manifest, its sidecar. */
function publishedNames(name) {
    const data = name.toString();
    return [data, `${data}${MANIFEST_SUFFIX}`, `${data}${CHECKSUM_SUFFIX}`];
}
/**
 * The longest file name a backup named `name` can make, in any tier (weekly and monthly copies are
 * longer than the daily) and in any form (each published file is first written as a hidden partial).
 */
function longestFileName(name) {
    return Math.max(...TIERS.flatMap((tier) => publishedNames(name.withTier(tier)).map(partialNameLength)));
}
/**
 * Proves before the dump that every file this backup makes has a name the filesystem of `dir`
 * accepts: otherwise the dump would be taken and then fail to be published. The limit is NAME_MAX,
 * or less where the filesystem says so (probed). `prefixSetting`: how the caller names BACKUP_PREFIX
 * when the prefix came from it (undefined: it is the database name).
 */
async function assertNamesFit(dir, name, prefixSetting) {
    const longest = longestFileName(name);
    let limit = NAME_MAX;
    if (longest <= NAME_MAX) {
        if (await acceptsNameLength(dir, longest))
            return;
        limit = await longestNameAccepted(dir, longest);
    }
    const fixed = longest - name.prefix.length;
    const source = prefixSetting
        ? `${prefixSetting} is ${name.prefix.length} characters long`
        : `The database name '${name.prefix}', used as the prefix, is ${name.prefix.length} characters long`;
    throw new shared_errors/* ConfigError */.xL(`${source}: the longest file name a backup with it makes (the hidden partial of ` +
        `${name.withTier("monthly").toString()}${MANIFEST_SUFFIX}) would be ${longest} characters, over the ` +
        `${limit} the filesystem of '${dir}' accepts. Set BACKUP_PREFIX to at most ${Math.max(0, limit - fixed)} characters`);
}
/**
 * Proves before the dump that no file of this backup exists yet in its tier directories: names have a
 * one-second resolution, so a second run within the same second would otherwise dump the whole
 * database only to be refused when publishing it.
 */
async function assertNamesFree(backupDir, name, tiers) {
    for (const tier of tiers) {
        const dir = external_node_path_default().join(backupDir, tier);
        for (const fileName of publishedNames(name.withTier(tier))) {
            const file = external_node_path_default().join(dir, fileName);
            const taken = await (0,promises_.lstat)(file).then(() => true, () => false);
            if (taken) {
                throw new shared_errors/* UserError */.yo(`${file} already exists: another backup already has this name (taken in the same second, ` +
                    `names have a one-second resolution). Wait a second and run again; nothing was dumped`);
            }
        }
    }
}

;// CONCATENATED MODULE: ./src/fs/dir-lock.ts










const LOCK_FILE = ".lifeline.lock";
/** How long an unreadable lock is watched for a writer finishing it before it is judged left by a crash. */
const UNREADABLE_RECHECK_MS = 500;
/**
 * Where hard links are not possible, a lock is created empty and then written (O_EXCL): an empty or
 * unreadable lock there may be a run writing it, and is taken over only once this old.
 */
const UNREADABLE_LOCK_MIN_AGE_MS = 60_000;
/** Hidden partials in BACKUP_DIR's root younger than this are left by the sweep (a contender's staged lock). */
const ROOT_PARTIAL_MIN_AGE_MS = 60_000;
/**
 * Creates the lock file whole, never over an existing one: its content is written and synced under a
 * hidden name, then hard-linked into place (EEXIST when held). So a lock file is never empty or torn,
 * and a full disk leaves no lock behind. Where hard links are not possible, an exclusive create
 * (O_EXCL) is written instead, removed again if writing it fails, and read back: it is ours only if it
 * still holds our token (a contender may have judged it empty meanwhile). `created` is false when the
 * lock is held; `hardLinks` tells which way was taken (and so whether an empty lock can be a writer's).
 */
async function createLockFile(file, content, token) {
    const dir = external_node_path_default().dirname(file);
    const describe = (err) => describeWriteFailure(err, `BACKUP_DIR '${dir}'`, dir, `its lock file ${LOCK_FILE}`);
    for (let attempt = 0;; attempt++) {
        const staged = await stageFile(file, content, 0o644).catch((err) => {
            throw describe(err.cause ?? err);
        });
        try {
            await (0,promises_.link)(staged.tempPath, file);
            return { created: true, hardLinks: true };
        }
        catch (err) {
            const code = err.code;
            if (code === "EEXIST")
                return { created: false, hardLinks: true };
            if (code === "ENOENT") {
                // Our staged copy vanished before the link: something else removed it (a run elsewhere sweeping).
                if (attempt < 2)
                    continue;
                throw new shared_errors/* UserError */.yo(`Could not lock ${dir}: the staged lock file ${external_node_path_default().basename(staged.tempPath)} was removed before it ` +
                    "could be linked into place, three times; another process keeps deleting hidden files in this " +
                    "directory (a run on another host or container sharing it?). Find it, then retry", { cause: err });
            }
            if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EXDEV")
                throw describe(err);
        }
        finally {
            await (0,promises_.unlink)(staged.tempPath).catch(() => { });
        }
        break;
    }
    let handle;
    try {
        handle = await (0,promises_.open)(file, "wx", 0o644);
    }
    catch (err) {
        if (err.code === "EEXIST")
            return { created: false, hardLinks: false };
        throw describe(err);
    }
    try {
        await handle.writeFile(content);
        await handle.sync();
        await handle.close();
        const written = await readHolder(file);
        return { created: typeof written === "object" && written.token === token, hardLinks: false };
    }
    catch (err) {
        await handle.close().catch(() => { });
        await (0,promises_.unlink)(file).catch(() => { }); // ours: created exclusively a moment ago
        throw describe(err);
    }
}
/**
 * An exclusive lock on a backup directory, so that two runs never write or prune it at once. A second
 * run fails fast naming the holder; a lock left by a dead process of this PID namespace on this host, or
 * by an earlier boot of this host, is taken over with a warning. A lock from another host (shared
 * storage) or another PID namespace (a container, even with the same hostname), or one that does not
 * record its namespace (older versions), is never taken over automatically: nothing here can tell
 * whether its holder still runs. An empty or unparsable lock is taken over where hard links work (locks
 * are written whole there, so only a crash or damage leaves one); elsewhere only once
 * UNREADABLE_LOCK_MIN_AGE_MS old, since a run may be writing it.
 */
class DirectoryLock {
    file;
    token;
    constructor(file, token) {
        this.file = file;
        this.token = token;
    }
    static async acquire(dir, command, logger) {
        const file = external_node_path_default().join(dir, LOCK_FILE);
        const token = (0,external_node_crypto_.randomBytes)(8).toString("hex");
        const me = {
            ...ownIdentity(),
            host: (0,external_node_os_.hostname)(),
            startedAt: new Date().toISOString(),
            command,
            token,
        };
        for (let attempt = 0; attempt < 2; attempt++) {
            const made = await createLockFile(file, `${JSON.stringify(me)}\n`, token);
            if (made.created) {
                // Hidden files of runs that died mid-write, swept only now that no other run can be writing here;
                // a contender's lock partial (staged a moment ago, maybe on another host) is left to its owner.
                await removeStalePartials(dir, ROOT_PARTIAL_MIN_AGE_MS);
                return new DirectoryLock(file, token);
            }
            const holder = await readHolder(file);
            if (holder === "gone")
                continue;
            if (holder === "unreadable") {
                // Only the fallback without hard links shows a lock before its content: give a writer a moment.
                const seen = await (0,promises_.stat)(file).catch(() => undefined);
                await (0,external_node_timers_promises_.setTimeout)(UNREADABLE_RECHECK_MS);
                const again = await readHolder(file);
                const now = await (0,promises_.stat)(file).catch(() => undefined);
                if (again !== "unreadable" ||
                    !seen ||
                    !now ||
                    now.mtimeMs !== seen.mtimeMs ||
                    now.size !== seen.size) {
                    continue;
                }
                const age = Date.now() - now.mtimeMs;
                if (!made.hardLinks && age < UNREADABLE_LOCK_MIN_AGE_MS) {
                    throw new shared_errors/* UserError */.yo(`${dir} is locked by ${file}, ${now.size === 0 ? "empty" : "unreadable"} and only ${Math.round(age / 1000)} s old: ` +
                        `on this filesystem (no hard links) a run writes its lock after creating it, so one may be starting now. ` +
                        `Retry in a minute (it is taken over once ${UNREADABLE_LOCK_MIN_AGE_MS / 1000} s old), or remove it if no run is active`);
                }
                logger.warn(`Taking over an unreadable lock file ${file} (${now.size === 0 ? "empty" : `${now.size} bytes, not a lock`}, ` +
                    `${Math.round((Date.now() - now.mtimeMs) / 1000)} s old): locks are written whole, so a run that crashed or a damaged disk left it`);
            }
            else if (holder.host !== (0,external_node_os_.hostname)()) {
                throw new shared_errors/* UserError */.yo(`${dir} is locked by pid ${holder.pid} on host ${holder.host} since ${holder.startedAt} (${holder.command}). ` +
                    `If that run is gone, remove ${file}`);
            }
            else {
                const verdict = judgeOwner(holder);
                if (verdict === "unknown") {
                    throw new shared_errors/* UserError */.yo(`${dir} is locked by pid ${holder.pid} on ${holder.host} since ${holder.startedAt} (${holder.command}), ` +
                        `${holder.pidNamespace ? `in another PID namespace (${holder.pidNamespace}: another container)` : "written by an older Lifeline version that does not record its PID namespace"}; ` +
                        `nothing here can tell whether that run is still active. Check that no run of this backup directory ` +
                        `is active (e.g. docker ps, your CI jobs), then remove ${file}`);
                }
                if (verdict === "alive") {
                    throw new shared_errors/* UserError */.yo(`Another Lifeline run holds ${dir}: pid ${holder.pid} on ${holder.host}, started ${holder.startedAt} (${holder.command}). ` +
                        "Wait for it to finish; runs of one backup directory never overlap");
                }
                const rebooted = holder.bootId !== me.bootId;
                logger.warn(`Taking over a stale lock on ${dir}: pid ${holder.pid} (${holder.command}, started ${holder.startedAt}) ` +
                    `${rebooted ? "ran before this host rebooted" : "is no longer running"}`);
            }
            await takeOver(file, holder, token);
        }
        throw new shared_errors/* UserError */.yo(`Could not lock ${dir}: another run took the lock at the same moment; retry`);
    }
    /** Releases the lock if it is still ours. */
    async release() {
        const holder = await readHolder(this.file);
        if (typeof holder === "object" && holder.token === this.token)
            await (0,promises_.unlink)(this.file).catch(() => { });
    }
}
/**
 * Removes a lock judged stale, without ever removing a fresh one: two runs may judge the same stale lock
 * at once, and the second must not delete the first's new lock. The file is renamed aside (atomic), and
 * only if it is still the lock that was judged is it dropped; otherwise it is put back.
 */
async function takeOver(file, judged, token) {
    const aside = `${file}.stale-${process.pid}-${token}`;
    try {
        await (0,promises_.rename)(file, aside);
    }
    catch (err) {
        if (err.code === "ENOENT")
            return; // someone else removed it: try again
        throw err;
    }
    const moved = await readHolder(aside);
    const same = judged === "unreadable"
        ? moved === "unreadable"
        : typeof moved === "object" && moved.token === judged.token;
    if (!same) {
        await (0,promises_.link)(aside, file).catch(() => { });
        await (0,promises_.unlink)(aside).catch(() => { });
        throw new shared_errors/* UserError */.yo(`Could not lock ${external_node_path_default().dirname(file)}: another run took the lock at the same moment; retry`);
    }
    await (0,promises_.unlink)(aside).catch(() => { });
}
/** More than any lock file Lifeline writes: a larger one is read no further and counts as unreadable. */
const MAX_LOCK_BYTES = 64 * 1024;
async function readHolder(file) {
    let text;
    try {
        // A FIFO in its place is named, never waited on; a huge file is not read whole (a holder is ~200 bytes).
        text = await readRegularFile(file, { maxBytes: MAX_LOCK_BYTES });
    }
    catch (err) {
        if (err.code === "ENOENT")
            return "gone";
        throw err;
    }
    try {
        const holder = JSON.parse(text);
        return typeof holder.pid === "number" && typeof holder.host === "string" ? holder : "unreadable";
    }
    catch {
        return "unreadable";
    }
}

;// CONCATENATED MODULE: ./src/backup/stages/prepare.ts





/**
 * The first stage of a run: checks that the backup directory, its work folder and `logs/` are
 * writable, logs to the day's file from then on, and takes the directory's lock (held until
 * `release`). A refused lock is written to the log file and leaves nothing held.
 */
async function prepare(options) {
    const { backupDir, logger } = options;
    const workDir = external_node_path_default().join(backupDir, options.workDir);
    const logsDir = external_node_path_default().join(backupDir, "logs");
    await ensureWritableDirectory(backupDir, "BACKUP_DIR");
    await ensureWritableDirectory(workDir, options.workDirWhat);
    await ensureWritableDirectory(logsDir, "Log directory");
    const logFile = external_node_path_default().join(logsDir, `${options.logName}_${formatTimestamp(options.startedAt).slice(0, 8)}.log`);
    const fileSink = new FileSink(logFile);
    logger.addSink(fileSink);
    const recordFailure = (err) => {
        try {
            fileSink.write("error", logger.redact(err.message), new Date());
        }
        catch { } // a log file that cannot be written (full disk) must not hide the run's own error
    };
    let lock;
    try {
        lock = await DirectoryLock.acquire(backupDir, options.owner, logger);
    }
    catch (err) {
        recordFailure(err);
        logger.removeSink(fileSink);
        throw err;
    }
    return {
        workDir,
        logFile,
        recordFailure,
        release: async () => {
            await lock.release();
            logger.removeSink(fileSink);
        },
    };
}
/**
 * Removes what an earlier run that died left in `dir`: partial files, and companions (suffixes such as
 * the manifest's and sidecar's) whose entry is missing. Only under the lock, so that nothing of them
 * is being written now.
 */
async function removeLeftovers(dir, companionSuffixes, isEntry, logger) {
    for (const stale of await removeStalePartials(dir)) {
        logger.warn(`Removed a partial file left by an earlier run that died: ${stale}`);
    }
    // Companions published before a crash kept their backup from being published; we hold the lock, so
    // none is being published now: any older than this moment whose backup is missing is such an orphan.
    for (const orphan of await removeOrphanCompanions(dir, companionSuffixes, new Date(), isEntry)) {
        logger.warn(`Removed ${orphan}: its backup file is missing (an earlier run died while publishing it)`);
    }
}

;// CONCATENATED MODULE: ./src/backup/stages/preflight.ts


















/**
 * The second stage: everything that can be refused is checked before the dump (key, server, pg_dump
 * version, file name, destinations), so that a refusal costs nothing and leaves nothing. The GPG
 * home it prepares is put in `held` at once, for the run to remove whatever fails next.
 */
async function preflight(run, workDir, held) {
    const source = await checkSource(run, workDir, held);
    await removeLeftovers(workDir, [MANIFEST_SUFFIX, CHECKSUM_SUFFIX], (file) => BackupName.parse(file) !== undefined, run.logger);
    const named = await nameBackup(run, workDir, source);
    const destinations = await checkDestinations(run.config.destinations, named.prefix, run.logger, {
        policy: run.config.retention,
        schedule: run.config.schedule,
        now: run.startedAt,
        ...(run.signal ? { signal: run.signal } : {}),
    });
    return { ...source, ...named, ...destinations };
}
/** The key, the server and the pg_dump for its version. */
async function checkSource(run, workDir, held) {
    const { config, logger } = run;
    const target = describeTarget(config.connection);
    logger.info(`Backing up ${target} into ${workDir}`);
    if (config.encryption) {
        held.encryptor = await GpgEncryptor.prepare({
            ...config.encryption,
            names: {
                publicKey: config.settingLabel("gpgPublicKey"),
                recipient: config.settingLabel("gpgRecipient"),
            },
        });
        logger.info(`Encrypting to GPG key ${held.encryptor.fingerprint} (${held.encryptor.recipient})`);
    }
    const server = await inspectServer(config.connection, run.signal);
    const pgDump = await choosePgTool("pg_dump", server.major, config.pgBinDir);
    logger.info(`Server PostgreSQL ${server.version}; using pg_dump ${pgDump.version} (${pgDump.path})`);
    return { target, encryptor: held.encryptor, server, pgDump };
}
/** Today's name (refused when it could not be read back or is taken), the previous size, the tiers due. */
async function nameBackup(run, workDir, source) {
    const { config, startedAt } = run;
    const { server } = source;
    const prefix = config.prefix ?? server.database;
    if (!isValidPrefix(prefix)) {
        // Files named after it could not be read back: retention, tiers and verify would not see them.
        throw new shared_errors/* ConfigError */.xL(`The database name '${server.database}' cannot start a backup file name (letters, digits, '.', '_' and '-' only, ` +
            `starting with a letter or digit): set ${config.settingLabel("prefix")} to a name that can`);
    }
    const name = new BackupName(prefix, "daily", startedAt, extensionFor(config.format, config.compression), !!source.encryptor);
    await assertNamesFit(workDir, name, config.prefix !== undefined ? config.settingLabel("prefix") : undefined);
    const previous = (await listLocalBackups(workDir, "daily", prefix))
        .filter((b) => b.valid)
        .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
    const previousSizeBytes = previous ? (await (0,promises_.stat)(external_node_path_default().join(workDir, previous.fileName))).size : undefined;
    // Decided before the dump so that the clouds receive the weekly/monthly copies in the same pass.
    const due = await tiersDue(config.backupDir, prefix, startedAt, config.schedule);
    // A clash with a backup of the same second is refused before anything slow (preflight, dump).
    await assertNamesFree(config.backupDir, name, ["daily", ...due]);
    return { prefix, name, previousSizeBytes, due };
}
/**
 * Opens every destination and proves it usable (one that is not is reported and skipped), then reads
 * what each ready one holds under `prefix`: a weekly/monthly it missed is due there even when
 * BACKUP_DIR has one, and what else it lacks is made up after today's backup.
 */
async function checkDestinations(destinations, prefix, logger, scope) {
    const stores = await Promise.all(destinations.map((d) => openStore(d, logger, scope.signal)));
    const { ready, failed } = await preflightDestinations(stores, logger, {
        timeoutMs: destinations[0]?.settings.transfer.preflightTimeoutMs,
        signal: scope.signal,
    });
    const holdings = await readHoldingsOf(ready, prefix, logger, scope);
    return { stores, ready, failures: failed, holdings };
}

;// CONCATENATED MODULE: ./src/backup/stages/publish.ts




/**
 * The fourth stage: the manifest and sidecar are written, then the data gets its final name beside
 * them (a backup never exists under its final name without them; if either cannot be written nothing
 * of this backup is left), and only then may the uploads store their objects.
 */
async function publish_publish(run, plan, dumped) {
    const { logger, startedAt } = run;
    const { file, outgoing } = dumped;
    const finishedAt = run.now();
    const durationSeconds = Math.max(0.001, (finishedAt.getTime() - startedAt.getTime()) / 1000);
    const manifest = manifestOf(run, plan, dumped, finishedAt, durationSeconds);
    const manifestFile = `${file}${MANIFEST_SUFFIX}`;
    const sidecarFile = `${file}${CHECKSUM_SUFFIX}`;
    try {
        await publishWithCompanions([
            { path: manifestFile, data: `${JSON.stringify(manifest, null, 2)}\n` },
            { path: sidecarFile, data: checksumLine(dumped.sha256, plan.name.toString()) },
        ], () => outgoing.publish());
    }
    catch (err) {
        await outgoing.abandon(err);
        if (!(err instanceof shared_errors/* UserError */.yo))
            throw err;
        throw new shared_errors/* UserError */.yo(`${err.message}; this backup was not kept, earlier backups are untouched`, {
            cause: err,
        });
    }
    // Only now is the dump known complete (exit statuses, trailer) and safe on disk: the uploads may
    // store their objects under the final names.
    outgoing.finishUploads();
    logger.info(`Backup written: ${file} (${dumped.sizeBytes} bytes, ${dumped.dumpBytes ?? "?"} bytes dumped, ${durationSeconds.toFixed(1)} s, sha256 ${dumped.sha256})`);
    return { file, manifestFile, sidecarFile, manifest, finishedAt, durationSeconds };
}
/** What the manifest beside the backup records: its source, tools, format, sizes, checksum and catalog. */
function manifestOf(run, plan, dumped, finishedAt, durationSeconds) {
    const { config, startedAt } = run;
    const { server, pgDump, encryptor, name } = plan;
    return {
        manifestVersion: MANIFEST_VERSION,
        tool: { name: "lifeline", version: LIFELINE_VERSION },
        file: name.toString(),
        tier: "daily",
        database: server.database,
        server: { version: server.version, versionNum: server.versionNum, target: plan.target },
        pgDump: { version: pgDump.version, path: pgDump.path },
        format: config.format,
        extension: name.extension,
        compression: {
            algorithm: config.compression,
            level: config.compression === "none" ? 0 : config.compressionLevel,
        },
        encryption: encryptor
            ? { method: "gpg", recipient: encryptor.recipient, fingerprint: encryptor.fingerprint }
            : null,
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        durationSeconds,
        dumpBytes: dumped.dumpBytes,
        sizeBytes: dumped.sizeBytes,
        sha256: dumped.sha256,
        catalog: dumped.catalog,
        databaseProperties: dumped.databaseProperties,
    };
}

;// CONCATENATED MODULE: ./src/backup/stages/report.ts


/**
 * The last stage of a run that kept its backup: its metrics (status, time, size, one series per
 * destination) pushed or written as configured. A run fails (status 1) when a destination failed.
 * A failed run's metrics are the adapter's (metrics/failed-run.ts), which also sees its exit status.
 */
async function report(type, settings, run, logger, signal) {
    return publishMetrics(settings, { type }, backupSamples(type, {
        ok: run.destinations.every((o) => o.ok),
        finishedAt: run.finishedAt,
        durationSeconds: run.durationSeconds,
        sizeBytes: run.sizeBytes,
    }, run.destinations), logger, signal);
}

;// CONCATENATED MODULE: ./src/retention/apply.ts




/**
 * Plans one tier from the catalog's entries and carries it out: logs each decision, deletes (unless
 * `dryRun`) data first, then its sidecar and manifest, so a crash in between leaves an orphan sidecar,
 * never a backup without its checksum. Entries that do not count are reported, never deleted nor counted.
 * A companion that is no regular file (a directory named like a manifest) is left, logged and reported
 * in `left`; retention goes on with the other backups.
 */
async function retainTier(tier, place, policy, now, options, removed, left) {
    const plan = planRetention(tier, place.entries, policy, now, options.schedule);
    const entries = new Map(place.entries.map((e) => [e.fileName, e]));
    for (const d of plan.decisions) {
        const verb = d.action === "delete" ? (options.dryRun ? "would delete" : "delete") : d.action;
        const line = `${place.label}: ${verb} ${d.backup.fileName}: ${d.reason}`;
        if (d.action === "report")
            options.logger.warn(line);
        else
            options.logger.info(line);
        if (d.action !== "delete" || options.dryRun)
            continue;
        const irregular = new Map(entries.get(d.backup.fileName)?.irregularCompanions.map((c) => [c.name, c.kind]));
        await place.store.delete(d.backup.fileName);
        removed.push(place.removedAs(d.backup.fileName));
        for (const name of d.backup.companions) {
            const kind = irregular.get(name) ?? (await deleteRegular(place.store, name));
            if (kind === undefined) {
                removed.push(place.removedAs(name));
                continue;
            }
            const reason = `${place.store.uri(name)} is ${kind}, not a regular file: Lifeline never deletes it; remove it by hand`;
            options.logger.warn(`${place.label}: deleted ${d.backup.fileName} but left ${name}: ${reason}`);
            left.push({ file: place.removedAs(name), reason });
        }
    }
    return plan;
}
/** Deletes a companion; what it is instead when it turned out to be no regular file (not deleted). */
async function deleteRegular(store, name) {
    try {
        await store.delete(name);
        return undefined;
    }
    catch (err) {
        if (err instanceof NotRegularFileError)
            return err.kind;
        throw err;
    }
}
/**
 * Applies the retention policy to every tier directory of `backupDir` for one prefix, logging each
 * decision. Runs only after a new backup succeeded (the caller's duty). With `dryRun`, deletes nothing.
 */
async function applyLocalRetention(backupDir, prefix, policy, now, options) {
    const plans = [];
    const removed = [];
    const left = [];
    for (const tier of options.tiers) {
        const store = tierStore(backupDir, tier);
        const entries = await listCatalog(store, { prefix, tiers: [tier] });
        const place = {
            store,
            entries,
            label: `retention ${tier}`,
            removedAs: (name) => external_node_path_default().join(tier, name),
        };
        plans.push(await retainTier(tier, place, policy, now, options, removed, left));
    }
    return { plans, dryRun: options.dryRun, removed, left };
}
/**
 * The local retention policy applied to a bucket prefix, with the same safety rules (broken backups
 * reported and kept, the newest valid kept, future-dated kept). Lists once; deletes data first, then
 * its sidecar and manifest. With `dryRun`, deletes nothing.
 */
async function applyRemoteRetention(store, prefix, policy, now, options) {
    const held = byTier(await listCatalog(store, { prefix, tiers: options.tiers }));
    const plans = [];
    const removed = [];
    const left = [];
    for (const tier of options.tiers) {
        const place = {
            store,
            entries: held[tier],
            label: `retention ${store.location} ${tier}`,
            removedAs: (name) => store.uri(name),
        };
        plans.push(await retainTier(tier, place, policy, now, options, removed, left));
    }
    return { plans, dryRun: options.dryRun, removed, left };
}

;// CONCATENATED MODULE: ./src/backup/stages/retain.ts

/**
 * Local retention, only after the new backup is safely in place (the caller's duty): its failure is
 * loud (log, summary) but does not undo the backup, and is returned as the outcome.
 */
async function retainLocal(backupDir, at, options) {
    const { logger } = options;
    try {
        return await applyLocalRetention(backupDir, options.prefix, options.policy, at, {
            dryRun: options.dryRun,
            logger,
            tiers: options.tiers,
            schedule: options.schedule,
        });
    }
    catch (err) {
        logger.error(`Retention failed, nothing more was deleted: ${err.message}`);
        return { error: err.message };
    }
}
/**
 * Remote retention, like local, only at the destinations in `arrived` (where today's backup safely
 * arrived); each outcome, or its error, is added to that destination's report.
 */
async function retainRemote(offsite, stores, arrived, now, options) {
    const { logger } = options;
    const reports = [...offsite];
    for (const [i, report] of reports.entries()) {
        const store = stores.find((s) => s.location === report.location);
        if (!arrived.has(report.location) || !store)
            continue;
        try {
            const outcome = await applyRemoteRetention(store, options.prefix, options.policy, now(), {
                dryRun: options.dryRun,
                logger,
                tiers: options.tiers,
                schedule: options.schedule,
            });
            reports[i] = { ...report, retention: outcome };
        }
        catch (err) {
            logger.error(`Retention in ${report.location} failed, nothing more was deleted there: ${err.message}`);
            reports[i] = { ...report, retention: { error: err.message } };
        }
    }
    return reports;
}

;// CONCATENATED MODULE: ./src/backup/backup-db.ts










/**
 * Takes one database backup (runbook: backup_db.sh): pg_dump → compression → optional GPG → file in a
 * single streamed pass, with the SHA-256 computed on the way and per-table row counts read in the
 * dump's own snapshot. The file appears under its final name only when every stage succeeded; then
 * it is filed under weekly/monthly when due, retention runs, and metrics are published either way.
 */
async function backupDatabase(config, options) {
    const now = options.now ?? (() => new Date());
    const startedAt = now();
    // A run that throws records its failure in the adapter (metrics/failed-run.ts), which also sees the
    // failures before this point (configuration, cancellation) and the exit status.
    const partial = await takeBackup({
        config,
        logger: options.logger,
        signal: options.signal,
        startedAt,
        now,
    });
    (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The backup was cancelled after it was written; it is kept");
    const metrics = await report("database", config.metrics, { ...partial, destinations: partial.offsite }, options.logger, options.signal);
    return { ...partial, metrics };
}
/**
 * The run as its stages: prepare → preflight → dump → publish → file tiers → retain (local) →
 * off-site → retain (remote). What a stage takes is released here whichever stage fails: the
 * partial file and its uploads, the GPG home, the lock; the error is kept in the day's log file.
 */
async function takeBackup(run) {
    const { config, logger, signal, startedAt, now } = run;
    logger.addSecret(config.connection.password);
    const prepared = await prepare({
        backupDir: config.backupDir,
        workDir: "daily",
        workDirWhat: "Backup directory",
        logName: "backup",
        owner: "backup-db",
        startedAt,
        logger,
    });
    const held = {};
    try {
        const plan = await preflight(run, prepared.workDir, held);
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The backup was cancelled before the dump started; nothing was written");
        const dumped = await dump(run, plan, prepared.workDir, held);
        const published = await publish_publish(run, plan, dumped);
        const tiers = await fileTiers(config.backupDir, published.file, plan.name, plan.due, dumped.sha256, logger);
        const retain = {
            prefix: plan.prefix,
            policy: config.retention,
            schedule: config.schedule,
            dryRun: config.retentionDryRun,
            tiers: ["daily", "weekly", "monthly"],
            logger,
        };
        // Local retention before the off-site stage: catch-up uploads only what BACKUP_DIR still keeps.
        const retention = await retainLocal(config.backupDir, now(), retain);
        const uploaded = await completeOffsite({
            preflightFailures: plan.failures,
            outgoing: dumped.outgoing,
            record: { sha256: published.manifest.sha256, manifest: published.manifest },
            holdings: plan.holdings,
            backupDir: config.backupDir,
            prefix: plan.prefix,
            policy: config.retention,
            schedule: config.schedule,
            now,
            limits: config.catchUp,
            encryptTo: plan.encryptor?.fingerprint,
            stallTimeoutMs: stallTimeoutOf(config.destinations),
            logger,
            signal,
        });
        const offsite = await retainRemote(uploaded.reports, plan.stores, uploaded.arrived, now, retain);
        return {
            file: published.file,
            sidecarFile: published.sidecarFile,
            manifestFile: published.manifestFile,
            sha256: dumped.sha256,
            sizeBytes: dumped.sizeBytes,
            dumpBytes: dumped.dumpBytes,
            durationSeconds: published.durationSeconds,
            startedAt,
            finishedAt: published.finishedAt,
            database: plan.server.database,
            server: plan.server,
            pgDump: plan.pgDump,
            logFile: prepared.logFile,
            manifest: published.manifest,
            tiers,
            previousSizeBytes: plan.previousSizeBytes,
            retention,
            offsite,
        };
    }
    catch (err) {
        // The adapter reports the failure to the operator; the day's log file keeps it too, first, so
        // that nothing below can replace or lose it.
        prepared.recordFailure(err);
        // A stage that failed after the partial file was created has removed it; this makes sure.
        try {
            await held.outgoing?.abandon(err);
        }
        catch (cleanup) {
            logger.warn(`Could not remove the partial backup after the failure: ${cleanup.message}`);
        }
        throw err;
    }
    finally {
        await held.encryptor?.dispose();
        await prepared.release();
    }
}

;// CONCATENATED MODULE: ./src/config/media-config.ts




/** Looked up, not declared here: restore and verify declare BACKUP_GPG_PRIVATE_KEY among their own settings. */
const GPG_PRIVATE_KEY = {
    env: "BACKUP_GPG_PRIVATE_KEY",
    input: "gpg-private-key",
    description: "",
    parse: (raw) => raw,
};

const shared = BACKUP_DB_SETTINGS;
function parseDataSubset(raw, source) {
    const pct = /^(\d{1,3}(?:\.\d+)?)%$/.exec(raw);
    if (pct && Number(pct[1]) > 0 && Number(pct[1]) <= 100)
        return { kind: "percent", percent: Number(pct[1]) };
    const slice = /^(\d+)\/(\d+)$/.exec(raw);
    if (slice) {
        const n = Number(slice[1]);
        const of = Number(slice[2]);
        if (n >= 1 && of >= 1 && n <= of && of <= 10_000)
            return { kind: "slice", n, of };
    }
    throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a percentage from 0 to 100 (e.g. 10%) or n/t (e.g. 1/5: the first of five slices)`);
}
/** Splits MEDIA_EXCLUDE on newlines and on commas outside braces, so "*.{tmp,part}" stays one pattern. */
function splitPatterns(raw) {
    const out = [];
    let depth = 0;
    let current = "";
    for (const c of raw) {
        if (c === "{")
            depth++;
        if (c === "}" && depth > 0)
            depth--;
        if (c === "\n" || (c === "," && depth === 0)) {
            out.push(current);
            current = "";
        }
        else
            current += c;
    }
    out.push(current);
    return out.map((p) => p.trim()).filter((p) => p !== "");
}
/** Where media snapshots go in every configured bucket: beside the database backups, under their own prefix. */
const mediaRemotePrefix = {
    env: "MEDIA_REMOTE_PREFIX",
    input: "media-remote-prefix",
    description: "key prefix of media snapshots in every bucket/container (data/ and snapshots/ below it)",
    default: "backups/media/",
    parse: parseKeyPrefix,
};
const { remotePrefix: _dbPrefix, ...cloudUpload } = CLOUD_SETTINGS;
const { remotePrefix: _dbReadPrefix, ...cloudRead } = CLOUD_READ_SETTINGS;
/** The off-site half of backup-media: the database's buckets and encryption, media's own prefix. */
const MEDIA_OFFSITE_SETTINGS = {
    ...cloudUpload,
    mediaRemotePrefix,
    mediaGcGraceHours: {
        env: "MEDIA_GC_GRACE_HOURS",
        input: "media-gc-grace-hours",
        description: "data in a bucket that no kept snapshot uses is removed only once two runs this far apart found it so, and it is at least this old (a backup still uploading is never robbed)",
        default: "12",
        parse: integerIn(1, 24 * 365, " (hours)"),
    },
    encrypt: shared.encrypt,
    gpgRecipient: shared.gpgRecipient,
    gpgPublicKey: shared.gpgPublicKey,
};
/** What verify and restore need to read media snapshots from the buckets. */
const MEDIA_REMOTE_READ_SETTINGS = { ...cloudRead, mediaRemotePrefix };
/** The settings of backup-media, named as in the runbook's backup_media.sh. */
const BACKUP_MEDIA_SETTINGS = {
    sourceDir: {
        env: "MEDIA_SOURCE_DIR",
        input: "media-source-dir",
        description: "the media directory to back up",
        default: "/data",
        parse: parseString,
    },
    mediaBackupDir: {
        env: "MEDIA_BACKUP_DIR",
        input: "media-backup-dir",
        description: "directory that holds the media snapshots, current and logs/",
        default: "/backups/media",
        parse: parseString,
    },
    retentionDays: {
        env: "MEDIA_RETENTION_DAYS",
        input: "media-retention-days",
        description: "days to keep media snapshots (the newest complete one and the one current names are always kept)",
        default: "30",
        parse: integerIn(1, 36_500, " (days)"),
    },
    full: {
        env: "MEDIA_FULL",
        input: "full",
        description: "copy and hash every file into an independent snapshot instead of hard-linking unchanged ones",
        default: "false",
        parse: parseBoolean,
    },
    exclude: {
        env: "MEDIA_EXCLUDE",
        input: "media-exclude",
        description: "glob patterns left out of media snapshots, separated by commas or newlines: without '/' a name at any depth (*.tmp), with '/' a path from the source (cache/**)",
        parse: (raw) => splitPatterns(raw),
    },
    retentionDryRun: shared.retentionDryRun,
    verifyOnly: {
        ...shared.verifyOnly,
        description: "check the existing snapshots (manifest checksum, every file's size and SHA-256) instead of taking one",
    },
    maxAgeHours: {
        ...shared.maxAgeHours,
        description: "with verify-only: exit 2 when the newest media snapshot is older than this, or none exists",
    },
    readDataSubset: {
        env: "MEDIA_READ_DATA_SUBSET",
        input: "read-data-subset",
        description: "with verify-only: read and hash this share of the snapshots' files: a percentage (10%) or a slice n/t (1/5)",
        default: "100%",
        parse: parseDataSubset,
    },
    pushgatewayUrl: shared.pushgatewayUrl,
    pushgatewayJob: shared.pushgatewayJob,
    metricsTextfile: shared.metricsTextfile,
    ...MEDIA_OFFSITE_SETTINGS,
};
function loadMediaOffsiteConfig(lookup, env = process.env) {
    const s = MEDIA_OFFSITE_SETTINGS;
    return {
        destinations: loadDestinations(lookup, env),
        prefix: settings_require(s.mediaRemotePrefix, lookup),
        graceMs: settings_require(s.mediaGcGraceHours, lookup) * 3600_000,
        encryption: loadEncryption(lookup),
    };
}
function loadBackupMediaConfig(lookup, env = process.env) {
    const s = BACKUP_MEDIA_SETTINGS;
    return {
        sourceDir: settings_require(s.sourceDir, lookup),
        backupDir: settings_require(s.mediaBackupDir, lookup),
        retentionDays: settings_require(s.retentionDays, lookup),
        full: settings_require(s.full, lookup),
        exclude: resolve(s.exclude, lookup) ?? [],
        retentionDryRun: settings_require(s.retentionDryRun, lookup),
        metrics: metricsSettings(lookup),
        offsite: loadMediaOffsiteConfig(lookup, env),
    };
}
function loadVerifyMediaConfig(lookup, env = process.env) {
    const s = BACKUP_MEDIA_SETTINGS;
    const prefix = settings_require(MEDIA_REMOTE_READ_SETTINGS.mediaRemotePrefix, lookup);
    const gpgPrivateKey = lookup(GPG_PRIVATE_KEY)?.value;
    return {
        backupDir: settings_require(s.mediaBackupDir, lookup),
        remotes: loadDestinations(lookup, env).map((destination) => ({ destination, prefix })),
        ...(gpgPrivateKey !== undefined ? { gpgPrivateKey } : {}),
        maxAgeHours: settings_require(s.maxAgeHours, lookup),
        subset: settings_require(s.readDataSubset, lookup),
        metrics: metricsSettings(lookup),
    };
}
/** The switch that turns verify and restore to media snapshots. */
const MEDIA_SWITCH = {
    env: "LIFELINE_MEDIA",
    input: "media",
    description: "work on the media snapshots in MEDIA_BACKUP_DIR instead of the database backups",
    default: "false",
    parse: parseBoolean,
};
const isMedia = (lookup) => settings_require(MEDIA_SWITCH, lookup);
/** The settings of verify --media. */
const VERIFY_MEDIA_SETTINGS = {
    media: MEDIA_SWITCH,
    mediaBackupDir: BACKUP_MEDIA_SETTINGS.mediaBackupDir,
    readDataSubset: {
        ...BACKUP_MEDIA_SETTINGS.readDataSubset,
        description: "with media: read and hash this share of the snapshots' files: 10% or n/t",
    },
    mediaRemotePrefix,
};
/** The settings of restore --media. */
const RESTORE_MEDIA_SETTINGS = {
    media: MEDIA_SWITCH,
    mediaBackupDir: BACKUP_MEDIA_SETTINGS.mediaBackupDir,
    snapshot: {
        env: "MEDIA_SNAPSHOT",
        input: "snapshot",
        description: "with media: the snapshot to restore: latest (the one current names) or a name such as media_20261202_030000",
        default: "latest",
        parse: (raw, source) => {
            if (raw !== "latest" && !/^media_\d{8}_\d{6}$/.test(raw)) {
                throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected latest or a snapshot name such as media_20261202_030000`);
            }
            return raw;
        },
    },
    targetDir: {
        env: "MEDIA_RESTORE_TARGET",
        input: "target-dir",
        description: "with media: the directory to restore into (created if missing); nothing is written outside it",
        parse: parseString,
    },
    restorePath: {
        env: "MEDIA_RESTORE_PATH",
        input: "restore-path",
        description: "with media: restore only this path of the snapshot (a file or a directory, relative to the source)",
        parse: parseString,
    },
    overwrite: {
        env: "MEDIA_RESTORE_OVERWRITE",
        input: "overwrite",
        description: "with media: replace files that already exist in the target (default: refuse, nothing written)",
        default: "false",
        parse: parseBoolean,
    },
    from: {
        env: "MEDIA_RESTORE_FROM",
        input: "media-from",
        description: "with media: where the snapshot is read from: local (MEDIA_BACKUP_DIR) or s3, gcs, azure (the configured bucket, under MEDIA_REMOTE_PREFIX)",
        default: "local",
        parse: (raw, source) => {
            if (!MEDIA_SOURCES.includes(raw)) {
                throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected one of: ${MEDIA_SOURCES.join(", ")}`);
            }
            return raw;
        },
    },
    ...MEDIA_REMOTE_READ_SETTINGS,
};
const MEDIA_SOURCES = ["local", "s3", "gcs", "azure"];
/** The configured bucket of `kind` for reading media snapshots; refused, naming the setting, when none is. */
function mediaRemoteSource(kind, lookup, env = process.env) {
    const destination = loadDestinations(lookup, env).find((d) => d.kind === kind);
    if (!destination) {
        const setting = {
            s3: CLOUD_SETTINGS.s3Bucket,
            gcs: CLOUD_SETTINGS.gcsBucket,
            azure: CLOUD_SETTINGS.azureContainer,
        }[kind];
        throw new shared_errors/* ConfigError */.xL(`Media snapshots are to be read from ${kind}, but no ${kind} bucket is configured: set ${namesOf(lookup).label(setting)}`);
    }
    return { destination, prefix: settings_require(MEDIA_REMOTE_READ_SETTINGS.mediaRemotePrefix, lookup) };
}
function loadRestoreMediaConfig(lookup, env = process.env) {
    const s = RESTORE_MEDIA_SETTINGS;
    const from = settings_require(s.from, lookup);
    const gpgPrivateKey = lookup(GPG_PRIVATE_KEY)?.value;
    return {
        backupDir: settings_require(s.mediaBackupDir, lookup),
        ...(from === "local" ? {} : { remote: mediaRemoteSource(from, lookup, env) }),
        ...(gpgPrivateKey !== undefined ? { gpgPrivateKey } : {}),
        snapshot: settings_require(s.snapshot, lookup),
        targetDir: settings_require(s.targetDir, lookup, "the directory to restore the media snapshot into"),
        restorePath: resolve(s.restorePath, lookup),
        overwrite: settings_require(s.overwrite, lookup),
        metrics: metricsSettings(lookup),
    };
}

;// CONCATENATED MODULE: ./src/config/restore-config.ts







const restore_config_shared = BACKUP_DB_SETTINGS;
/**
 * Parses the runbook's `--target-time '2024-10-26 01:30:00'`: ISO-like, UTC unless an offset is given
 * (backup names are UTC too, so the two compare without a time-zone guess).
 */
function parseTargetTime(raw, source) {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2}|UTC)?$/i.exec(raw.trim());
    const zone = m?.[3] === undefined || /^(z|utc)$/i.test(m[3]) ? "Z" : m[3];
    const at = m ? new Date(`${m[1]}T${m[2]}${zone}`) : undefined;
    if (!at || Number.isNaN(at.getTime())) {
        throw new shared_errors/* ConfigError */.xL(`Invalid ${source} '${raw}'. Expected a time such as '2024-10-26 01:30:00' (UTC) or '2024-10-26 03:30:00+02:00'`);
    }
    return at;
}
/** The settings shared by restore and verify's test restore. */
const RESTORE_COMMON_SETTINGS = {
    backupFile: {
        env: "BACKUP_FILE",
        input: "backup-file",
        description: "the backup to restore: a path such as /backups/daily/transcripts_daily_20241026_020000.sql.gz",
        parse: parseString,
    },
    jobs: {
        env: "RESTORE_JOBS",
        input: "jobs",
        description: "parallel jobs of pg_restore -j for custom-format backups; default: the number of CPU cores",
        parse: integerIn(1, 64),
    },
    gpgPrivateKey: {
        env: "BACKUP_GPG_PRIVATE_KEY",
        input: "gpg-private-key",
        description: "secret key to decrypt .gpg backups, ASCII-armoured and without passphrase (e.g. from a secret); else GNUPGHOME's keys",
        parse: parseString,
    },
};
/** What reading backups needs, restoring them and reporting the run: the last settings of restore and verify. */
const BACKUP_READING_SETTINGS = {
    jobs: RESTORE_COMMON_SETTINGS.jobs,
    gpgPrivateKey: RESTORE_COMMON_SETTINGS.gpgPrivateKey,
    pgBinDir: {
        ...restore_config_shared.pgBinDir,
        description: "directory holding psql and pg_restore; by default PATH and /usr/lib/postgresql/*/bin",
    },
    ...CLOUD_READ_SETTINGS,
    pushgatewayUrl: restore_config_shared.pushgatewayUrl,
    pushgatewayJob: restore_config_shared.pushgatewayJob,
    metricsTextfile: restore_config_shared.metricsTextfile,
};
/** Reads BACKUP_READING_SETTINGS. */
function loadBackupReading(lookup) {
    const s = BACKUP_READING_SETTINGS;
    return {
        jobs: resolve(s.jobs, lookup) ?? (0,external_node_os_.availableParallelism)(),
        gpgPrivateKey: resolve(s.gpgPrivateKey, lookup),
        pgBinDir: resolve(s.pgBinDir, lookup),
        metrics: metricsSettings(lookup),
        ...loadCloudReading(lookup),
    };
}
/** The settings of restore, named as in the runbook's restore_db.sh. */
const RESTORE_SETTINGS = {
    databaseUrl: {
        ...restore_config_shared.databaseUrl,
        description: "the database to restore, e.g. postgresql://user:password@host:5432/transcripts (replaced by the backup)",
    },
    backupDir: restore_config_shared.backupDir,
    prefix: { ...restore_config_shared.prefix, description: "only backups whose names start with this; default: all" },
    listBackups: {
        env: "RESTORE_LIST_BACKUPS",
        input: "list-backups",
        description: "list the backups, newest first, and restore nothing",
        default: "false",
        parse: parseBoolean,
    },
    backupFile: RESTORE_COMMON_SETTINGS.backupFile,
    pitr: {
        env: "RESTORE_PITR",
        input: "pitr",
        description: "restore the newest backup taken before target-time, then print how to replay WAL to it",
        default: "false",
        parse: parseBoolean,
    },
    targetTime: {
        env: "RESTORE_TARGET_TIME",
        input: "target-time",
        description: "with pitr: the time to recover to, e.g. '2024-10-26 01:30:00' (UTC unless an offset is given)",
        parse: parseTargetTime,
    },
    confirm: {
        env: "RESTORE_CONFIRM",
        input: "confirm",
        description: "the target database's name, typed out: the restore refuses unless it matches",
        parse: parseString,
    },
    force: {
        env: "RESTORE_FORCE",
        input: "force",
        description: "skip the confirmation (runbook: --force); the action always requires confirm",
        default: "false",
        parse: parseBoolean,
        cliOnly: true,
    },
    dropOld: {
        env: "RESTORE_DROP_OLD",
        input: "drop-old",
        description: "drop the replaced database after a proven swap instead of keeping it as <db>_pre_restore_<time>",
        default: "false",
        parse: parseBoolean,
    },
    dryRun: {
        env: "RESTORE_DRY_RUN",
        input: "dry-run",
        description: "print the plan (which backup, target, new database, swap, what is kept; with pitr the WAL guidance) and change nothing",
        default: "false",
        parse: parseBoolean,
    },
    ...BACKUP_READING_SETTINGS,
    ...RESTORE_MEDIA_SETTINGS,
};
/** The database a connection names, as libpq would pick it. */
function targetDatabase(connection, env = process.env, setting = "DATABASE_URL") {
    const name = connection.database ?? env.PGDATABASE ?? connection.user ?? env.PGUSER;
    if (!name)
        throw new shared_errors/* ConfigError */.xL(`${setting} names no database: give one, e.g. postgresql://user@host:5432/transcripts`);
    return name;
}


/** Whether the run only lists backups; then no database is needed. */
function isListOnly(lookup) {
    return settings_require(RESTORE_SETTINGS.listBackups, lookup);
}
/** Reads and validates every restore setting before anything is touched. */
function loadRestoreConfig(lookup) {
    const s = RESTORE_SETTINGS;
    const names = namesOf(lookup);
    const given = (spec) => givenAs(spec, lookup);
    const connection = parseDatabaseUrl(settings_require(s.databaseUrl, lookup), lookup(s.databaseUrl)?.source);
    const pitr = settings_require(s.pitr, lookup);
    const targetTime = resolve(s.targetTime, lookup);
    const backupFile = resolve(s.backupFile, lookup);
    if (pitr && targetTime === undefined) {
        throw new shared_errors/* ConfigError */.xL(`${given(s.pitr)} needs the time to recover to: set ${names.label(s.targetTime)}, e.g. '2024-10-26 01:30:00'`);
    }
    if (!pitr && targetTime !== undefined) {
        throw new shared_errors/* ConfigError */.xL(`${names.label(s.targetTime)} is only used with ${names.name(s.pitr)}: ${names.enable(s.pitr)}, or unset it`);
    }
    if (pitr && backupFile !== undefined) {
        throw new shared_errors/* ConfigError */.xL(`${names.name(s.pitr)} picks the backup itself (the newest before ${names.name(s.targetTime)}): ` +
            `remove ${given(s.backupFile)}, or ${given(s.pitr)}`);
    }
    if (!pitr && backupFile === undefined) {
        throw new shared_errors/* ConfigError */.xL(`Nothing to restore: give ${names.label(s.backupFile)}, or ${names.name(s.pitr)} with ${names.name(s.targetTime)}; ` +
            `list candidates with ${names.name(s.listBackups)}`);
    }
    return {
        connection,
        database: targetDatabase(connection, process.env, given(s.databaseUrl)),
        backupDir: settings_require(s.backupDir, lookup),
        prefix: resolve(s.prefix, lookup),
        backupFile,
        pitrTarget: pitr ? targetTime : undefined,
        confirm: resolve(s.confirm, lookup),
        force: settings_require(s.force, lookup),
        dropOld: settings_require(s.dropOld, lookup),
        dryRun: settings_require(s.dryRun, lookup),
        ...loadBackupReading(lookup),
        settingName: (setting) => names.name(s[setting]),
        settingEnable: (setting) => names.enable(s[setting]),
    };
}
/** What `--list-backups` needs: where to look (BACKUP_DIR and the configured buckets) and for what. */
function loadListConfig(lookup) {
    return {
        backupDir: settings_require(RESTORE_SETTINGS.backupDir, lookup),
        prefix: resolve(RESTORE_SETTINGS.prefix, lookup),
        destinations: loadCloudReading(lookup).destinations,
    };
}

// EXTERNAL MODULE: ./src/storage/store.ts
var storage_store = __nccwpck_require__(6336);
;// CONCATENATED MODULE: ./src/catalog/backup-source.ts










/** Format, compression and encryption from a file name: `.sql.gz`, `.sql.zst`, `.sql`, `.dump`, each `[.gpg]`. */
function kindOfFileName(fileName) {
    const encrypted = fileName.endsWith(".gpg");
    const bare = encrypted ? fileName.slice(0, -4) : fileName;
    const ext = EXTENSIONS.find((e) => bare.endsWith(`.${e}`));
    if (!ext)
        return undefined;
    return {
        format: ext === "dump" ? "custom" : "plain",
        compression: ext === "dump" ? "none" : compressionOfExtension(ext),
        encrypted,
    };
}
/** The local tier directories of BACKUP_DIR as stores. Cloud stores are added beside them. */
function localTierStores(backupDir) {
    return TIERS.map((tier) => tierStore(backupDir, tier));
}
/** BACKUP_DIR's tier directories and every configured bucket, as stores to list or verify. */
async function backupStores(backupDir, destinations, logger) {
    return [
        ...localTierStores(backupDir),
        ...(await Promise.all(destinations.map((d) => openStore(d, logger)))),
    ];
}
/**
 * Every backup in the given stores (optionally of one prefix), newest first, as the catalog lists them.
 * Companion files, hidden partials, unrelated names and entries that are not regular files are not
 * backups a restore can read; `catalog` says whether each counts and why not.
 */
async function listBackups(stores, prefix) {
    const out = [];
    for (const store of stores) {
        for (const entry of await listCatalog(store, { prefix })) {
            if (entry.object)
                out.push(sourceOf(entry, entry.object));
        }
    }
    return out.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || a.uri.localeCompare(b.uri));
}
/** A catalog entry as restore's source. */
function sourceOf(entry, object) {
    return {
        store: entry.store,
        fileName: entry.fileName,
        uri: entry.uri,
        name: entry.name,
        tier: entry.tier,
        takenAt: entry.takenAt,
        sizeBytes: object.sizeBytes,
        ...kindOfFileName(entry.fileName),
        hasSidecar: entry.sidecar.state !== "absent",
        hasManifest: entry.hasManifest,
        catalog: entry,
    };
}
/**
 * The store behind a `--backup-file` value: a local path, or `s3://bucket/key`, `gs://bucket/key`,
 * `azure://container/key`, opened with the configured endpoints and credentials.
 */
async function storeForUri(uri, cloud) {
    const parsed = (0,storage_store/* parseBackupUri */.iM)(uri);
    if ("path" in parsed) {
        // The operator's own path may be a symbolic link (to a regular file); in BACKUP_DIR links are refused.
        return {
            store: new LocalStore(external_node_path_default().dirname(parsed.path), { followSymlinks: true }),
            fileName: external_node_path_default().basename(parsed.path),
        };
    }
    if (!cloud) {
        throw new shared_errors/* ConfigError */.xL(`BACKUP_FILE '${shownUri(uri)}': cloud backups cannot be read here; download it first`);
    }
    const slash = parsed.key.lastIndexOf("/");
    const keyPrefix = slash < 0 ? "" : parsed.key.slice(0, slash + 1);
    const store = await openStore(cloud(parsed.kind, parsed.bucket, keyPrefix));
    return { store, fileName: parsed.key.slice(slash + 1) };
}
/** Looks up one backup by path or URI, failing with advice when it is missing or of an unknown kind. */
async function findBackup(uri, cloud, 
/** How the caller lists backups, for the advice when `uri` is missing ("--list-backups"). */
listWith = "add --list-backups") {
    const { store, fileName } = await storeForUri(uri, cloud);
    if (!kindOfFileName(fileName)) {
        throw new shared_errors/* ConfigError */.xL(`BACKUP_FILE '${shownUri(uri)}' is not a backup Lifeline can read: expected a name ending in .sql.gz, .sql.zst, .sql ` +
            "or .dump, optionally followed by .gpg");
    }
    const object = await store.stat(fileName);
    if (!object) {
        throw new shared_errors/* UserError */.yo(`BACKUP_FILE '${shownUri(uri)}' does not exist: to list the backups, ${listWith}; then give one of them`);
    }
    const name = BackupName.parse(fileName);
    const [sidecar, manifest] = await Promise.all([CHECKSUM_SUFFIX, MANIFEST_SUFFIX].map((suffix) => store.stat(`${fileName}${suffix}`).then((found) => found !== undefined, 
    // Something that is not a regular file is there: present, and refused when it is read.
    (err) => (err instanceof NotRegularFileError ? true : Promise.reject(err)))));
    return {
        store,
        fileName,
        uri: store.uri(fileName),
        name,
        tier: name?.tier,
        takenAt: name?.takenAt ?? object.lastModified,
        sizeBytes: object.sizeBytes,
        ...kindOfFileName(fileName),
        hasSidecar: sidecar === true,
        hasManifest: manifest === true,
    };
}
/** The SHA-256 its sidecar records; a missing, malformed, oversized or mismatched sidecar is refused. */
async function expectedSha256(entry) {
    const sidecar = await readSidecar(entry.store, entry.fileName);
    const uri = `${entry.uri}${CHECKSUM_SUFFIX}`;
    if (sidecar.state === "ok")
        return sidecar.sha256;
    if (sidecar.state === "absent") {
        throw new shared_errors/* UserError */.yo(`No checksum sidecar ${uri}: the backup cannot be proven intact, so it is not restored. If you trust ` +
            `the file, create one with 'sha256sum ${entry.fileName} > ${entry.fileName}${CHECKSUM_SUFFIX}' in its directory`);
    }
    if (sidecar.state === "bad" && sidecar.fault === "malformed") {
        throw new shared_errors/* UserError */.yo(`Malformed checksum sidecar ${uri}: expected 'sha256sum' output`);
    }
    if (sidecar.state === "bad" && sidecar.fault === "names-other") {
        throw new shared_errors/* UserError */.yo(`Checksum sidecar ${uri} names another file, '${sidecar.names}'`);
    }
    const problem = sidecar.state === "bad" ? sidecar.problem : "not read";
    throw new shared_errors/* UserError */.yo(`Checksum sidecar ${uri} cannot be used (${problem}): the backup is not restored`);
}
/** The manifest beside a backup, or undefined when there is none (e.g. the runbook's shell backups). */
async function readManifest(entry) {
    const text = await readManifestText(entry.store, entry.fileName);
    if (text === undefined)
        return undefined;
    let manifest;
    try {
        manifest = JSON.parse(text);
    }
    catch (err) {
        throw new shared_errors/* UserError */.yo(`The manifest ${entry.uri}${MANIFEST_SUFFIX} is not valid JSON: restore without it by moving it away, or fix it`, { cause: err });
    }
    // Versions 1 and 2 read alike (2 only added optional fields); a newer one may mean what this cannot.
    if (typeof manifest.manifestVersion === "number" && manifest.manifestVersion > MANIFEST_VERSION) {
        throw new shared_errors/* UserError */.yo(`The manifest ${entry.uri}${MANIFEST_SUFFIX} has manifestVersion ${manifest.manifestVersion}, newer than this ` +
            `Lifeline reads (${MANIFEST_VERSION}): upgrade Lifeline, or restore without it by moving it away`);
    }
    return manifest;
}
/**
 * A backup URI as an error may quote it: without user info or a query string, where a pasted Azure
 * SAS URL or a presigned S3 URL carries its signature.
 */
function shownUri(uri) {
    let shown = uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@");
    const query = shown.indexOf("?");
    if (query >= 0)
        shown = `${shown.slice(0, query)}?… (query not shown)`;
    return shown;
}

;// CONCATENATED MODULE: ./src/restore/check-sql.ts


/**
 * Reads a check file (BACKUP_CHECK_SQL): SQL statements, each ended by a `;` at the end of a line;
 * `--` comment lines are ignored. Each statement must return at least one row whose first column is
 * neither false nor NULL nor an empty string — e.g. `SELECT count(*) > 0 FROM videos;`.
 */
async function readCheckSql(file) {
    const text = await readRegularFile(file, { followSymlinks: true }).catch((err) => {
        throw new shared_errors/* ConfigError */.xL(`BACKUP_CHECK_SQL '${file}' cannot be read (${err.code ?? err.message}): give a readable file of SQL checks`);
    });
    const statements = text
        .split("\n")
        .filter((line) => !/^\s*--/.test(line))
        .join("\n")
        .split(/;[ \t]*(?:\r?\n|$)/)
        .map((s) => s.trim())
        .filter(Boolean);
    if (!statements.length) {
        throw new shared_errors/* ConfigError */.xL(`BACKUP_CHECK_SQL '${file}' holds no SQL statement: write one check per statement, ended by ';'`);
    }
    return statements;
}
/** Runs each check in a read-only transaction, so that a check can never change the copy it judges. */
async function runSqlChecks(client, statements) {
    const results = [];
    for (const sql of statements) {
        try {
            await client.query("BEGIN READ ONLY");
            const res = await client.query({ text: sql, rowMode: "array" });
            const value = res.rows[0]?.[0];
            const ok = res.rows.length > 0 && value !== null && value !== undefined && value !== false && value !== "";
            results.push({
                sql,
                ok,
                detail: res.rows.length === 0 ? "no rows returned" : value === null ? "NULL" : String(value),
            });
        }
        catch (err) {
            results.push({ sql, ok: false, detail: `error: ${err.message}` });
        }
        finally {
            await client.query("ROLLBACK").catch(() => { });
        }
    }
    return results;
}

;// CONCATENATED MODULE: ./src/restore/databases.ts



/** PostgreSQL truncates identifiers to 63 bytes; derived names must fit so that they stay distinct. */
const MAX_IDENTIFIER_BYTES = 63;
const SESSION_DRAIN_MS = 15_000;
const databases_quoteIdent = (id) => `"${id.replace(/"/g, '""')}"`;
/** `<base><suffix>`, shortening `base` (never the suffix) to fit in 63 bytes. */
function derivedName(base, suffix) {
    let head = base;
    while (Buffer.byteLength(head + suffix) > MAX_IDENTIFIER_BYTES)
        head = head.slice(0, -1);
    return head + suffix;
}
/** The database a restore is built in before it replaces `live`: `<live>_lifeline_restore_<UTC time>`. */
const restoreDatabaseName = (live, at) => derivedName(live, `_lifeline_restore_${formatTimestamp(at)}`);
/** The name the replaced database is kept under: `<live>_pre_restore_<UTC time>`. */
const previousDatabaseName = (live, at) => derivedName(live, `_pre_restore_${formatTimestamp(at)}`);
/**
 * A connection to the server's maintenance database (postgres, or template1 when the target is itself
 * `postgres`): databases are created, renamed and dropped from outside them.
 */
async function connectMaintenance(connection, target) {
    return connectClient({ ...connection, database: target === "postgres" ? "template1" : "postgres" }, "lifeline-restore");
}
/** The encoding, locale and owner a manifest recorded, for creating the database a restore fills. */
function recordedDatabaseInfo(manifest) {
    const p = manifest?.databaseProperties;
    return p && !p.error
        ? { owner: p.owner, encoding: p.encoding, collate: p.collate, ctype: p.ctype }
        : undefined;
}
async function describeDatabase(client, name) {
    const { rows } = await client.query(`SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding,
            datcollate AS collate, datctype AS ctype
     FROM pg_database WHERE datname = $1`, [name]);
    return rows[0];
}
/**
 * Creates an empty database from template0 (a dump must not meet objects added to template1), with the
 * encoding, locale and owner of `like` when given, so that the restored copy can take its place.
 */
async function createEmptyDatabase(client, name, like) {
    const base = `CREATE DATABASE ${databases_quoteIdent(name)} TEMPLATE template0`;
    const withLocale = like
        ? `${base} ENCODING ${databases_literal(like.encoding)} LC_COLLATE ${databases_literal(like.collate)} LC_CTYPE ${databases_literal(like.ctype)}`
        : base;
    try {
        await client.query(like?.owner ? `${withLocale} OWNER ${databases_quoteIdent(like.owner)}` : withLocale);
    }
    catch (err) {
        const e = err;
        if (e.code === "42501" && /CREATE DATABASE/i.test(e.message)) {
            throw new shared_errors/* UserError */.yo(`Cannot create the database '${name}' to restore into: the role in DATABASE_URL lacks CREATEDB. ` +
                "Grant it (ALTER ROLE ... CREATEDB) or restore as a role that has it", { cause: err });
        }
        if (!like?.owner || (e.code !== "42501" && e.code !== "42704"))
            throw err;
        // Not a member of the owner role, or no such role here: keep our own ownership rather than fail.
        await client.query(withLocale);
    }
}
const databases_literal = (s) => `'${s.replace(/'/g, "''")}'`;
/** Drops a database, ending its sessions first (WITH (FORCE) on PostgreSQL 13+). */
async function dropDatabase(client, name) {
    const major = Math.floor(Number((await client.query("SELECT current_setting('server_version_num') AS v")).rows[0].v) / 10000);
    if (major < 13)
        await terminateSessions(client, name);
    await client.query(`DROP DATABASE IF EXISTS ${databases_quoteIdent(name)}${major >= 13 ? " WITH (FORCE)" : ""}`);
}
async function terminateSessions(client, name) {
    const { rows } = await client.query("SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name]);
    return Number(rows[0].n);
}
async function otherSessions(client, name) {
    const { rows } = await client.query("SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name]);
    return Number(rows[0].n);
}
/**
 * Puts `fresh` in the place of `live` in one short step: new connections to `live` are refused, its
 * sessions ended, then both renames happen in one transaction (all or nothing), so `live` always names
 * a complete database. When `live` does not exist the fresh one is just renamed. Returns the name the
 * old database is kept under, or undefined when there was none.
 */
async function swapInto(client, names) {
    const { live, fresh, previous } = names;
    const exists = (await describeDatabase(client, live)) !== undefined;
    if (!exists) {
        await client.query(`ALTER DATABASE ${databases_quoteIdent(fresh)} RENAME TO ${databases_quoteIdent(live)}`);
        return { previous: undefined, terminated: 0 };
    }
    await client.query(`ALTER DATABASE ${databases_quoteIdent(live)} ALLOW_CONNECTIONS false`);
    let swapped = false;
    let terminated = 0;
    try {
        const deadline = Date.now() + SESSION_DRAIN_MS;
        for (;;) {
            terminated += await terminateSessions(client, live);
            if ((await otherSessions(client, live)) === 0)
                break;
            if (Date.now() > deadline) {
                throw new shared_errors/* UserError */.yo(`Sessions on '${live}' did not end within ${SESSION_DRAIN_MS / 1000} s of pg_terminate_backend: ` +
                    `nothing was swapped; '${live}' is unchanged. Stop the clients holding it and run the restore again`);
            }
            await new Promise((r) => setTimeout(r, 100));
        }
        await client.query("BEGIN");
        try {
            await client.query(`ALTER DATABASE ${databases_quoteIdent(live)} RENAME TO ${databases_quoteIdent(previous)}`);
            await client.query(`ALTER DATABASE ${databases_quoteIdent(fresh)} RENAME TO ${databases_quoteIdent(live)}`);
            await client.query("COMMIT");
            swapped = true;
        }
        catch (err) {
            await client.query("ROLLBACK").catch(() => { });
            throw err;
        }
    }
    finally {
        // The kept copy (or, when the swap failed, the untouched live database) accepts connections again.
        await client
            .query(`ALTER DATABASE ${databases_quoteIdent(swapped ? previous : live)} ALLOW_CONNECTIONS true`)
            .catch(() => { });
    }
    return { previous, terminated };
}

;// CONCATENATED MODULE: ./src/restore/catalog-compare.ts

/** Names keyed by their exact bytes (hex), each with the name it is listed under. */
function byBytes(names, catalog) {
    return new Map(names.map((n) => [nameBytesHex(n, catalog.rawNames), n]));
}
function presence(kind, expected, actual) {
    return [...new Set([...expected.keys(), ...actual.keys()])]
        .map((key) => ({
        kind,
        name: expected.get(key) ?? actual.get(key),
        expected: expected.has(key) ? "present" : "absent",
        actual: actual.has(key) ? "present" : "absent",
        ok: expected.has(key) === actual.has(key),
    }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
/**
 * Compares the manifest's catalog with the restored database's, exactly: the same schemas, tables,
 * sequences and extensions, and every table's row count when the manifest has exact counts. Names
 * are compared byte for byte (see `rawNames`), so a name that is not UTF-8 must come back unchanged.
 * Extension versions are compared as notes only: a dump re-creates extensions at the server's
 * default version, so a restore onto a newer server legitimately differs there.
 */
function compareCatalogs(expected, actual) {
    const notes = [];
    const rows = [
        ...presence("schema", byBytes(expected.schemas, expected), byBytes(actual.schemas, actual)),
    ];
    const key = (catalog, name) => nameBytesHex(name, catalog.rawNames);
    const actualRows = new Map(actual.tables.map((t) => [key(actual, t.name), t]));
    const expectedRows = new Map(expected.tables.map((t) => [key(expected, t.name), t]));
    const exact = expected.rowCounts === "exact";
    if (!exact)
        notes.push(`row counts not compared: the manifest's are ${expected.rowCounts === "off" ? "off" : "estimated"}`);
    const tableKeys = [...new Set([...expectedRows.keys(), ...actualRows.keys()])];
    const tableName = (k) => (expectedRows.get(k) ?? actualRows.get(k)).name;
    tableKeys.sort((a, b) => (tableName(a) < tableName(b) ? -1 : tableName(a) > tableName(b) ? 1 : 0));
    for (const k of tableKeys) {
        const name = tableName(k);
        const want = expectedRows.get(k)?.rows;
        const have = actualRows.get(k)?.rows;
        if (!expectedRows.has(k) || !actualRows.has(k)) {
            rows.push({
                kind: "table",
                name,
                expected: expectedRows.has(k) ? "present" : "absent",
                actual: actualRows.has(k) ? "present" : "absent",
                ok: false,
            });
            continue;
        }
        const compare = exact && want !== null && want !== undefined;
        rows.push({
            kind: "table",
            name,
            expected: compare ? String(want) : "present",
            actual: compare ? String(have) : "present",
            ok: !compare || want === have,
        });
    }
    rows.push(...presence("sequence", byBytes(expected.sequences, expected), byBytes(actual.sequences, actual)));
    const extensionNames = (c) => new Map(c.extensions.map((e) => [e.name, e.name]));
    rows.push(...presence("extension", extensionNames(expected), extensionNames(actual)));
    const actualVersions = new Map(actual.extensions.map((e) => [e.name, e.version]));
    for (const e of expected.extensions) {
        const v = actualVersions.get(e.name);
        if (v !== undefined && v !== e.version)
            notes.push(`extension ${e.name}: ${e.version} in the dump, ${v} restored`);
    }
    const mismatches = rows
        .filter((r) => !r.ok)
        .map((r) => r.kind === "table" && r.expected !== "present" && r.expected !== "absent" && r.actual !== "absent"
        ? `table ${r.name}: ${r.expected} rows in the manifest, ${r.actual} restored`
        : `${r.kind} ${r.name}: ${r.expected} in the manifest, ${r.actual} in the restore`);
    return { ok: mismatches.length === 0, rows, notes, mismatches };
}

;// CONCATENATED MODULE: ./src/restore/database-properties.ts



/**
 * Settings whose value is a list of quoted names (pg_dump's variable_is_guc_list_quote): each element
 * must be given as its own literal, `SET search_path = 'a', '$user'`, not as one string.
 */
const LIST_QUOTE_SETTINGS = new Set([
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
]);
const SETTING_NAME_PART = /^[A-Za-z_][A-Za-z0-9_$]*$/;
/** Splits a stored list value (`"$user", public`) into its elements, as PostgreSQL's SplitGUCList. */
function splitSettingList(value) {
    const out = [];
    let i = 0;
    const skipSpace = () => {
        while (i < value.length && /\s/.test(value[i]))
            i++;
    };
    skipSpace();
    if (i === value.length)
        return [];
    for (;;) {
        let item = "";
        if (value[i] === '"') {
            i++;
            for (;;) {
                if (i >= value.length)
                    throw new Error(`unterminated quoted name in the list ${value}`);
                if (value[i] === '"' && value[i + 1] === '"') {
                    item += '"';
                    i += 2;
                }
                else if (value[i] === '"') {
                    i++;
                    break;
                }
                else
                    item += value[i++];
            }
        }
        else {
            while (i < value.length && value[i] !== "," && !/\s/.test(value[i]))
                item += value[i++];
            if (!item)
                throw new Error(`empty element in the list ${value}`);
        }
        out.push(item);
        skipSpace();
        if (i === value.length)
            return out;
        if (value[i] !== ",")
            throw new Error(`unexpected '${value[i]}' in the list ${value}`);
        i++;
        skipSpace();
    }
}
/** `name = value` for ALTER ... SET, from a pg_db_role_setting item `name=value`; every part quoted. */
function settingAssignment(item) {
    const eq = item.indexOf("=");
    const name = eq > 0 ? item.slice(0, eq) : "";
    const value = item.slice(eq + 1);
    const parts = name.split(".");
    if (!parts.every((p) => SETTING_NAME_PART.test(p)))
        throw new shared_errors/* UserError */.yo(`The manifest records a database setting '${item}' whose name is not a configuration parameter: ` +
            "the manifest is damaged or was edited; restore without it by moving it away");
    const values = LIST_QUOTE_SETTINGS.has(name.toLowerCase()) ? splitSettingList(value) : [value];
    const rendered = values.length ? values.map((v) => esm.escapeLiteral(v)).join(", ") : "''";
    return `${parts.map((p) => esm.escapeIdentifier(p)).join(".")} = ${rendered}`;
}
const PRIVILEGES = new Set(["CONNECT", "CREATE", "TEMPORARY"]);
/** The server's error text with every occurrence of `secrets` (non-empty, longest first) redacted. */
function redactSecrets(text, secrets = []) {
    let out = text;
    for (const v of [...new Set(secrets)].filter((v) => v !== "").sort((a, b) => b.length - a.length))
        out = out.split(v).join("(value redacted)");
    return out;
}
/**
 * The recorded ACL as it applies to a database now owned by `currentOwner`: what the recorded owner held
 * (its implicit, owner-default privileges, as pg_dump treats them) goes to the current owner, so that a
 * restore into a database owned by another role never leaves its owner unable to connect. `mapped`
 * lists the privileges moved that way (empty when the owner is the same or held nothing).
 */
function ownerMappedAcl(acl, recordedOwner, currentOwner) {
    if (recordedOwner === currentOwner)
        return { acl: [...acl], mapped: [] };
    const out = new Map();
    const mapped = [];
    for (const g of acl) {
        const grantee = g.grantee === recordedOwner ? currentOwner : g.grantee;
        if (g.grantee === recordedOwner)
            mapped.push(g.privilege);
        const k = JSON.stringify([grantee, g.privilege]);
        const seen = out.get(k);
        out.set(k, { grantee, privilege: g.privilege, grantable: g.grantable || (seen?.grantable ?? false) });
    }
    return { acl: [...out.values()], mapped };
}
/** The statements that give `database` the recorded properties, and the roles skipped as missing. */
function propertyStatements(database, recorded, current, existingRoles) {
    const db = esm.escapeIdentifier(database);
    const role = (r) => (r === null ? "PUBLIC" : esm.escapeIdentifier(r));
    const missing = new Set();
    const exists = (r) => {
        if (r === null || existingRoles.has(r))
            return true;
        missing.add(r);
        return false;
    };
    const statements = [];
    if (recorded.acl !== null) {
        // From a clean slate: nobody holds anything, then exactly the recorded privileges are granted.
        const holders = new Set([
            null,
            current.owner,
            ...(current.acl ?? []).map((g) => g.grantee),
        ]);
        for (const h of holders)
            statements.push({ what: "the ACL", sql: `REVOKE ALL ON DATABASE ${db} FROM ${role(h)} CASCADE` });
        const grouped = new Map();
        for (const g of ownerMappedAcl(recorded.acl, recorded.owner, current.owner).acl) {
            if (!PRIVILEGES.has(g.privilege))
                throw new shared_errors/* UserError */.yo(`The manifest records a database privilege '${g.privilege}' that does not exist: the manifest is damaged ` +
                    "or was edited; restore without it by moving it away");
            if (!exists(g.grantee))
                continue;
            const k = JSON.stringify([g.grantee, g.grantable]);
            const group = grouped.get(k) ?? { grantee: g.grantee, grantable: g.grantable, privileges: [] };
            group.privileges.push(g.privilege);
            grouped.set(k, group);
        }
        for (const g of grouped.values())
            statements.push({
                what: `the ACL (${g.privileges.join(", ")} to ${g.grantee ?? "PUBLIC"})`,
                sql: `GRANT ${g.privileges.join(", ")} ON DATABASE ${db} TO ${role(g.grantee)}${g.grantable ? " WITH GRANT OPTION" : ""}`,
            });
    }
    if (recorded.comment !== null)
        statements.push({
            what: "the comment",
            sql: `COMMENT ON DATABASE ${db} IS ${esm.escapeLiteral(recorded.comment)}`,
        });
    if (Number.isInteger(recorded.connectionLimit) && recorded.connectionLimit !== -1)
        statements.push({
            what: "the connection limit",
            sql: `ALTER DATABASE ${db} CONNECTION LIMIT ${recorded.connectionLimit}`,
        });
    for (const s of recorded.settings) {
        if (!exists(s.role))
            continue;
        const target = s.role === null ? `ALTER DATABASE ${db}` : `ALTER ROLE ${role(s.role)} IN DATABASE ${db}`;
        for (const item of s.settings) {
            const sql = `${target} SET ${settingAssignment(item)}`;
            const name = item.slice(0, item.indexOf("="));
            const value = item.slice(item.indexOf("=") + 1);
            statements.push({
                // The value is not named: a setting may hold something private.
                what: `the setting ${name}${s.role === null ? "" : ` of role ${s.role}`}`,
                sql,
                secrets: [value, ...(LIST_QUOTE_SETTINGS.has(name.toLowerCase()) ? splitSettingList(value) : [])],
            });
        }
    }
    return { statements, missingRoles: [...missing].sort() };
}
const grantText = (g) => `${g.grantee ?? "PUBLIC"}: ${g.privilege}${g.grantable ? " WITH GRANT OPTION" : ""}`;
/**
 * Compares the properties read back from the restored database with the recorded ones: ACL (grantor
 * aside, the recorded owner's privileges expected on the restored owner), comment, connection limit and
 * settings must be equal; what was skipped for roles missing on this server is left out. Both the owner
 * mapping and the skipped roles are noted. Owner and encoding differences are notes (the target decides them).
 */
function compareProperties(recorded, restored, missingRoles) {
    const skip = new Set(missingRoles);
    const rows = [];
    const row = (name, expected, actual) => rows.push({ kind: "property", name, expected, actual, ok: expected === actual });
    const acl = (a, dropMissing) => a === null
        ? "default"
        : a
            .filter((g) => !dropMissing || g.grantee === null || !skip.has(g.grantee))
            .map(grantText)
            .sort()
            .join("; ") || "none";
    const mapping = recorded.acl && ownerMappedAcl(recorded.acl, recorded.owner, restored.owner);
    row("ACL", acl(mapping ? mapping.acl : null, true), acl(restored.acl, false));
    row("comment", recorded.comment ?? "(none)", restored.comment ?? "(none)");
    row("connection limit", String(recorded.connectionLimit), String(restored.connectionLimit));
    // One row per setting, never showing its value (it may be a secret): equal, missing or different.
    const settingsOf = (p, dropMissing) => {
        const out = new Map();
        for (const s of p.settings) {
            if (dropMissing && s.role !== null && skip.has(s.role))
                continue;
            for (const item of s.settings) {
                const eq = item.indexOf("=");
                const name = eq > 0 ? item.slice(0, eq) : item;
                out.set(`setting ${name}${s.role === null ? "" : ` of role ${s.role}`}`, item.slice(eq + 1));
            }
        }
        return out;
    };
    const want = settingsOf(recorded, true);
    const have = settingsOf(restored, false);
    for (const k of [...new Set([...want.keys(), ...have.keys()])].sort()) {
        const w = want.get(k);
        const h = have.get(k);
        rows.push({
            kind: "property",
            name: k,
            expected: w === undefined ? "not set" : "set",
            actual: h === undefined ? "not set" : h === w ? "set" : "set to another value",
            ok: w === h,
        });
    }
    const notes = [];
    if (mapping?.mapped.length)
        notes.push(`the backed-up owner ${recorded.owner}'s privileges (${mapping.mapped.join(", ")}) were given to the ` +
            `restored database's owner ${restored.owner} instead`);
    if (missingRoles.length)
        notes.push(`roles missing on this server, so their grants and settings were not re-applied: ${missingRoles.join(", ")}`);
    if (recorded.owner !== restored.owner)
        notes.push(`owner: ${recorded.owner} in the backup, ${restored.owner} restored`);
    if (recorded.encoding !== restored.encoding)
        notes.push(`encoding: ${recorded.encoding} in the backup, ${restored.encoding} restored`);
    return { rows, notes };
}
/**
 * Gives the database `client` is connected to (`database`, a restore's new database) the recorded
 * properties. Roles that do not exist on this server are skipped (never more privilege than recorded)
 * and returned; any other failure throws, naming the property.
 */
async function applyProperties(client, database, recorded) {
    const current = await readDatabaseProperties(client);
    const wanted = [
        current.owner,
        ...(recorded.acl ?? []).map((g) => g.grantee),
        ...recorded.settings.map((s) => s.role),
    ].filter((r) => r !== null);
    const { rows } = await client.query("SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])", [wanted]);
    const { statements, missingRoles } = propertyStatements(database, recorded, current, new Set(rows.map((r) => r.rolname)));
    for (const st of statements) {
        try {
            await client.query(st.sql);
        }
        catch (err) {
            // The server may quote the value it refused (`invalid value for parameter "x": "…"`): redacted,
            // and the server's error is then not kept as the cause either.
            const text = err.message;
            const redacted = redactSecrets(text, st.secrets);
            throw new shared_errors/* UserError */.yo(`Could not re-apply ${st.what} of the backed-up database to "${database}": ${redacted}. ` +
                "Restore as a role allowed to set it (e.g. the database owner or a superuser)", redacted === text ? { cause: err } : {});
        }
    }
    return { missingRoles, applied: statements.length };
}

;// CONCATENATED MODULE: ./src/restore/psql-guard.ts



/**
 * First psql release of each major that understands `\restrict` (CVE-2025-8714): from there on a
 * restricted psql refuses every backslash command but `\unrestrict <key>`. 18 has it from its release.
 */
const RESTRICT_SINCE = { 13: 22, 14: 19, 15: 14, 16: 10, 17: 6 };
/** Whether this psql can be put in restricted mode (`\restrict`). */
function psqlCanRestrict(tool) {
    if (tool.major >= 18)
        return true;
    const since = RESTRICT_SINCE[tool.major];
    const minor = Number(/^\d+\.(\d+)/.exec(tool.version)?.[1] ?? Number.NaN);
    return since !== undefined && Number.isInteger(minor) && minor >= since;
}
/** Refuses a psql that cannot be restricted: a plain backup is never fed to an unrestricted psql. */
function requireRestrictablePsql(tool, file) {
    if (psqlCanRestrict(tool))
        return;
    throw new shared_errors/* UserError */.yo(`${file} is a plain SQL backup, and the psql chosen to restore it (${tool.version} at ${tool.path}) is too old ` +
        "to be put in restricted mode (\\restrict needs psql 13.22+, 14.19+, 15.14+, 16.10+, 17.6+ or 18): " +
        "a backup that holds psql meta-commands could run programs on this host. Nothing was restored. Update the " +
        `PostgreSQL client (e.g. apt-get install --only-upgrade postgresql-client-${tool.major}) or set PG_BIN_DIR to a newer one`);
}
const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
/** The longest backslash line looked at (pg_dump's `\restrict` line is 74 bytes). */
const MAX_META_LINE = 512;
/** Tokens of a statement kept for the statement check; a longer statement is judged by its start. */
const MAX_TOKENS = 64;
/** Characters of a string literal or quoted identifier kept for the statement check. */
const MAX_TEXT = 256;
const isIdentByte = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x5f || b >= 0x80;
const isDigit = (b) => b >= 0x30 && b <= 0x39;
const isIdentStart = (b) => isIdentByte(b) && !isDigit(b);
/** What may follow a backslash in COPY text data as pg_dump writes it (and COPY text reads it). */
const COPY_ESCAPES = new Set([..."\\Nbfnrtv01234567x"].map((c) => c.charCodeAt(0)));
/**
 * Client encodings psql may be switched to in which 0x5C (a backslash) can be the second byte of a
 * character, so psql's lexer and this one would part ways (names as PostgreSQL normalises them:
 * lowercase, only letters and digits). No database can have them, so pg_dump never sets them.
 */
const UNSAFE_CLIENT_ENCODINGS = new Set([
    "sjis",
    "shiftjis",
    "mskanji",
    "win932",
    "windows932",
    "shiftjis2004",
    "big5",
    "win950",
    "windows950",
    "gbk",
    "win936",
    "windows936",
    "uhc",
    "win949",
    "windows949",
    "gb18030",
    "johab",
]);
const normaliseEncoding = (name) => name.toLowerCase().replace(/[^a-z0-9]/g, "");
/** The functions pg_dump's own top-level SELECTs call (search path, sequences, large objects). */
const DUMP_SELECTS = new Set(["set_config", "setval", "lo_create", "lo_open", "lowrite", "lo_close"]);
/** First words of the statements pg_dump writes into a plain dump of one database. */
const DUMP_STATEMENTS = new Set([
    "set",
    "select",
    "create",
    "alter",
    "drop",
    "comment",
    "copy",
    "grant",
    "revoke",
    "security",
    "refresh",
    "insert",
    "begin",
    "commit",
]);
/** Objects beyond the database being restored: CREATE/ALTER/DROP of these is refused. */
const CLUSTER_OBJECTS = new Set(["role", "user", "group", "database", "tablespace", "system"]);
/**
 * Why a statement (its first tokens) is not one pg_dump writes into a plain dump of one database, or
 * undefined when it is. Judged by its kind only: a statement of an allowed kind can still call
 * functions (an index expression, a default) — this is a fence around the restore, not a sandbox.
 */
function statementRefusal(tokens, truncated) {
    if (!tokens.length)
        return undefined;
    const words = tokens.map((t) => t.kind === "w" ? t.text : t.kind === "q" ? `"${t.text}"` : `\u0000${t.text}`);
    const first = tokens[0];
    const kind = first.kind === "w" ? first.text : "";
    const show = `${tokens
        .slice(0, 4)
        .map((t) => (t.kind === "s" ? "'...'" : t.text))
        .join(" ")
        .toUpperCase()
        .replace(/[^\x20-\x7e]/g, "?")}`;
    const never = `${show}, which pg_dump never writes`;
    if (!DUMP_STATEMENTS.has(kind))
        return never;
    const at = (i) => words[i] ?? "";
    if (kind === "create" || kind === "alter" || kind === "drop") {
        let i = 1;
        if (at(1) === "or" && at(2) === "replace")
            i = 3;
        if (CLUSTER_OBJECTS.has(at(i)) && !(at(i) === "user" && at(i + 1) === "mapping"))
            return never;
        return undefined;
    }
    if (kind === "begin" || kind === "commit")
        return tokens.length === 1 ? undefined : never;
    if (kind === "grant" || kind === "revoke") {
        // pg_dump grants privileges ON objects; a role membership (GRANT role TO ...) is the cluster's
        return tokens.some((t) => t.kind === "w" && t.text === "on" && t.depth === 0) ? undefined : never;
    }
    if (kind === "copy") {
        const top = tokens.filter((t) => t.depth === 0);
        const from = top.findIndex((t) => t.kind === "w" && t.text === "from");
        const fromStdin = from > 0 && top[from + 1]?.kind === "w" && top[from + 1]?.text === "stdin";
        const to = top.some((t) => t.kind === "w" && (t.text === "to" || t.text === "program"));
        return fromStdin && !to && !truncated ? undefined : `${never} (only COPY ... FROM stdin)`;
    }
    if (kind === "set") {
        let i = 1;
        if ((at(1) === "session" && at(2) !== "authorization") || at(1) === "local")
            i = 2;
        const name = tokens[i]?.kind === "q" ? tokens[i].text.toLowerCase() : at(i);
        const valueToken = tokens[i + 1]?.kind === "p" || at(i + 1) === "to" ? tokens[i + 2] : undefined;
        const value = valueToken?.text.toLowerCase() ?? "";
        if (name === "role" || name === "session" || name === "names")
            return never;
        if (name === "client_encoding" && UNSAFE_CLIENT_ENCODINGS.has(normaliseEncoding(value)))
            return `${show}: client_encoding ${value.toUpperCase()} can hide a backslash in a character's second byte, and no database has that encoding, so pg_dump never writes it`;
        if (name === "standard_conforming_strings" && !["on", "true", "yes", "1", "default"].includes(value))
            return `${show}: standard_conforming_strings other than on changes how strings end, and pg_dump always writes on`;
        return undefined;
    }
    if (kind === "select") {
        // SELECT pg_catalog.fn(literal, ...) and nothing else
        const fn = at(3);
        const ok = !truncated &&
            at(1) === "pg_catalog" &&
            at(2) === "\u0000." &&
            DUMP_SELECTS.has(fn) &&
            at(4) === "\u0000(" &&
            at(words.length - 1) === "\u0000)" &&
            tokens
                .slice(5, -1)
                .every((t) => t.kind === "s" ||
                t.kind === "n" ||
                (t.kind === "p" && (t.text === "," || t.text === "-")) ||
                (t.kind === "w" && (t.text === "true" || t.text === "false"))) &&
            (fn !== "set_config" || (tokens[5]?.kind === "s" && tokens[5].text === "search_path"));
        return ok ? undefined : never;
    }
    return undefined;
}
/**
 * Everything a plain backup sends to psql passes through here. Two independent locks:
 * 1. the stream starts with `\restrict <fresh random key>`, so psql itself refuses every backslash
 *    command that follows (the key exists only in this process, is never logged, and changes every run);
 * 2. the SQL is lexed the way psql 13-18 lexes it (quotes, E'' strings, dollar quotes, comments,
 *    parentheses and BEGIN ATOMIC bodies for statement ends, COPY ... FROM stdin data up to `\.`), and
 *    any backslash command outside COPY data is refused here, before psql sees it. Where the two lexers
 *    could still part ways the guard refuses rather than guesses: settings that change how psql lexes
 *    (standard_conforming_strings off, client encodings with 0x5C trail bytes), a backslash at the start
 *    of a line inside an E'' string or block comment, COPY data escapes COPY text never writes, a statement
 *    psql and the server would split differently, a `$` or number glued to a word the way pg_dump never
 *    writes. The one exception is the dump's own `\restrict K` ... `\unrestrict K` pair (pg_dump 13.22+;
 *    at the start of a line, one of each, the same key): those two lines are dropped, so psql stays
 *    in our restricted mode for the whole stream.
 * Besides, every statement must be of a kind pg_dump writes into a plain dump of one database (see
 * statementRefusal): no roles, databases, tablespaces, ALTER SYSTEM, COPY to/from files or programs,
 * DO, CALL, LOAD, SET ROLE, SELECTs other than pg_dump's own. SQL passes through unchanged.
 */
class PsqlGuard extends external_node_stream_.Transform {
    /** `\restrict <key>` for psql; the key never leaves this object. */
    #preamble = Buffer.from(`\\restrict ${(0,external_node_crypto_.randomBytes)(32).toString("hex")}\n`);
    #file;
    #onRefuse;
    #started = false;
    /** COPY ... FROM stdin statements sent and not yet fed: each reads data from the next line on. */
    #pendingCopies = 0;
    #copy = false;
    /** Bytes of the current COPY data line so far (capped), whether the last was an escaping backslash. */
    #copyCol = 0;
    #copyEsc = false;
    /** The COPY data line is `\.` so far (1), or `\.\r` (2). */
    #copyEnd = 0;
    #state = "normal";
    #line = 1;
    #atLineStart = true;
    #prev = 0;
    #blockDepth = 0;
    #tag = [];
    #tagMatch = 0;
    /** The unquoted word or number being read: "" none, "w" word, "n" number, "e" after its exponent's e, "s" after the sign. */
    #wordKind = "";
    #word = "";
    #text = "";
    #tokens = [];
    #truncated = false;
    #stmtLine = 0;
    #paren = 0;
    /** psql's own heuristic (psqlscan.l): BEGIN/CASE ... END depth inside CREATE [OR REPLACE] FUNCTION|PROCEDURE. */
    #psqlBegin = 0;
    #identCount = 0;
    #idents = ["", "", "", ""];
    /** The server's view: depth inside a BEGIN ATOMIC body (CASE ... END nest inside it). */
    #atomic = 0;
    #lastWord = "";
    #meta = [];
    #metaAtLineStart = false;
    #metaLine = 0;
    #dumpKey;
    #unrestricted = false;
    constructor(options) {
        super();
        this.#file = options.file;
        this.#onRefuse = options.onRefuse;
    }
    _transform(chunk, _encoding, done) {
        if (!this.#started) {
            this.#started = true;
            this.push(this.#preamble);
        }
        try {
            this.#scan(chunk);
            done();
        }
        catch (err) {
            done(err);
        }
    }
    _flush(done) {
        if (!this.#started) {
            this.#started = true;
            this.push(this.#preamble);
        }
        try {
            if (this.#state === "meta")
                this.#endMeta();
            if (!this.#copy) {
                this.#endWord(0);
                // psql sends what is left at the end of its input as a last statement
                if (this.#state === "normal" || this.#state === "lineComment")
                    this.#endStatement();
            }
            done();
        }
        catch (err) {
            done(err);
        }
    }
    #scan(chunk) {
        let emitFrom = 0;
        let i = 0;
        const n = chunk.length;
        while (i < n) {
            if (this.#copy) {
                i = this.#scanCopy(chunk, i);
                continue;
            }
            const b = chunk[i];
            if (this.#state === "meta") {
                if (b === NL) {
                    this.#endMeta();
                    this.#newLine();
                    emitFrom = i + 1; // the allowed lines (`\restrict`/`\unrestrict`) are dropped with their newline
                }
                else {
                    if (this.#meta.length >= MAX_META_LINE)
                        this.#refuseMeta();
                    this.#meta.push(b);
                }
                i++;
                continue;
            }
            if (b === BACKSLASH && this.#state === "normal") {
                this.#endWord(b);
                if (i > emitFrom)
                    this.push(chunk.subarray(emitFrom, i));
                this.#state = "meta";
                this.#meta = [b];
                this.#metaAtLineStart = this.#atLineStart;
                this.#metaLine = this.#line;
                i++;
                continue;
            }
            if (b === BACKSLASH &&
                this.#atLineStart &&
                (this.#state === "escape" || this.#state === "escapeQuote" || this.#state === "blockComment"))
                // pg_dump writes no E'' string (standard_conforming_strings is on) and no block comment, while
                // a genuine '' string (a COMMENT) or dollar quote (a function body) may hold such a line
                this.#refuse(this.#line, "a backslash at the start of a line inside an E'' string or a block comment (pg_dump writes neither), " +
                    "where psql would run it as a meta-command if its lexer saw the quoting differently");
            this.#step(b);
            if (b === NL) {
                this.#newLine();
                if (this.#pendingCopies > 0 && !this.#copy) {
                    this.#pendingCopies--;
                    this.#copy = true;
                    this.#copyCol = 0;
                    this.#copyEsc = false;
                    this.#copyEnd = 0;
                }
            }
            else
                this.#atLineStart = false;
            i++;
        }
        if (this.#state !== "meta" && emitFrom < n)
            this.push(emitFrom === 0 ? chunk : chunk.subarray(emitFrom));
    }
    /**
     * COPY data: only a line that is exactly `\.` ends it. A backslash must start one of COPY text's
     * escapes (a line psql would read as a command, were it not in COPY, never passes). Returns where SQL resumes.
     */
    #scanCopy(chunk, from) {
        let i = from;
        const n = chunk.length;
        while (i < n) {
            const b = chunk[i];
            i++;
            if (this.#copyEnd) {
                if (b === NL) {
                    this.#line++;
                    this.#copy = false;
                    this.#atLineStart = true;
                    this.#prev = NL;
                    if (this.#pendingCopies > 0) {
                        this.#pendingCopies--;
                        this.#copy = true;
                        this.#copyCol = 0;
                        this.#copyEsc = false;
                        this.#copyEnd = 0;
                        continue;
                    }
                    return i;
                }
                if (b === CR && this.#copyEnd === 1)
                    this.#copyEnd = 2;
                else
                    this.#refuse(this.#line, "COPY data that starts with \\. but goes on (COPY text never writes that)");
                continue;
            }
            if (this.#copyEsc) {
                this.#copyEsc = false;
                if (b === 0x2e && this.#copyCol === 1)
                    this.#copyEnd = 1;
                else if (!COPY_ESCAPES.has(b))
                    this.#refuse(this.#line, `a backslash followed by ${JSON.stringify(String.fromCharCode(b))} in COPY data, which COPY text never writes`);
                this.#copyCol++;
                continue;
            }
            if (b === NL) {
                this.#line++;
                this.#copyCol = 0;
                continue;
            }
            if (b === BACKSLASH)
                this.#copyEsc = true;
            if (this.#copyCol < 8)
                this.#copyCol++;
        }
        return n;
    }
    #newLine() {
        this.#line++;
        this.#atLineStart = true;
    }
    #token(kind, text, depth = this.#paren) {
        if (!this.#tokens.length)
            this.#stmtLine = this.#line;
        if (this.#tokens.length < MAX_TOKENS)
            this.#tokens.push({ kind, text, depth });
        else
            this.#truncated = true;
    }
    /** Ends the word or number being read; `next` is the byte that ended it. */
    #endWord(next) {
        const kind = this.#wordKind;
        if (!kind)
            return;
        const word = this.#word;
        this.#wordKind = "";
        this.#word = "";
        if (kind !== "w") {
            this.#token("n", word);
            return;
        }
        const lower = word.toLowerCase();
        // E'', X'', B'', N'' and U&'' / U&"" are literals to psql, not identifiers
        if (next === 0x27 && ["e", "x", "b", "n"].includes(lower))
            return;
        if (next === 0x26 && lower === "u")
            this.#refuse(this.#line, "a U& literal outside quotes (pg_dump writes none)");
        this.#token("w", lower);
        this.#identifier(lower);
    }
    /** psqlscan.l's BEGIN ... END tracking, and the server's BEGIN ATOMIC. */
    #identifier(word) {
        if (this.#identCount === 0)
            this.#idents = ["", "", "", ""];
        if (["create", "function", "procedure", "or", "replace"].includes(word) && this.#identCount < 4)
            this.#idents[this.#identCount] = word[0];
        this.#identCount++;
        const [a, b, c, d] = this.#idents;
        const routine = a === "c" && (b === "f" || b === "p" || (b === "o" && c === "r" && (d === "f" || d === "p")));
        if (routine && this.#paren === 0) {
            if (word === "begin")
                this.#psqlBegin++;
            else if (word === "case") {
                if (this.#psqlBegin >= 1)
                    this.#psqlBegin++;
                if (this.#atomic >= 1)
                    this.#atomic++;
            }
            else if (word === "end") {
                if (this.#psqlBegin > 0)
                    this.#psqlBegin--;
                if (this.#atomic > 0)
                    this.#atomic--;
            }
            else if (word === "atomic" && this.#lastWord === "begin" && this.#atomic === 0)
                this.#atomic = 1;
        }
        this.#lastWord = word;
    }
    #semicolon() {
        if (this.#paren > 0)
            return; // psql: not the end of a statement, whatever the server thinks
        if (this.#psqlBegin > 0 || this.#atomic > 0) {
            if (this.#psqlBegin > 0 && this.#atomic > 0)
                return; // inside a BEGIN ATOMIC body, for both
            this.#refuse(this.#line, "a ; that psql and the server would see differently (psql's BEGIN ... END heuristic against BEGIN ATOMIC)");
        }
        this.#endStatement();
    }
    #endStatement() {
        const why = statementRefusal(this.#tokens, this.#truncated);
        if (why)
            this.#refuse(this.#stmtLine, `a statement ${why}`, true);
        const top = this.#tokens.filter((t) => t.depth === 0);
        if (this.#tokens[0]?.kind === "w" && this.#tokens[0].text === "copy") {
            const from = top.findIndex((t) => t.kind === "w" && t.text === "from");
            if (from > 0 && top[from + 1]?.kind === "w" && top[from + 1]?.text === "stdin")
                this.#pendingCopies++;
        }
        this.#tokens = [];
        this.#truncated = false;
        this.#paren = 0;
        this.#psqlBegin = 0;
        this.#atomic = 0;
        this.#identCount = 0;
        this.#lastWord = "";
    }
    /** One byte of SQL outside COPY data and outside a backslash command. */
    #step(b) {
        const prev = this.#prev;
        switch (this.#state) {
            case "normal": {
                let ended = "";
                if (this.#wordKind) {
                    const k = this.#wordKind;
                    if (k === "w" && (isIdentByte(b) || b === 0x24)) {
                        if (this.#word.length < MAX_TEXT)
                            this.#word += String.fromCharCode(b);
                        break;
                    }
                    if (k !== "w") {
                        if (isDigit(b) || (b === 0x2e && k === "n")) {
                            this.#wordKind = "n";
                            this.#word += String.fromCharCode(b);
                            break;
                        }
                        if (k === "n" && (b === 0x65 || b === 0x45) && !/e/i.test(this.#word)) {
                            this.#wordKind = "e";
                            this.#word += "e";
                            break;
                        }
                        if (k === "e" && (b === 0x2b || b === 0x2d)) {
                            this.#wordKind = "s";
                            this.#word += String.fromCharCode(b);
                            break;
                        }
                        if (isIdentByte(b) || k === "e" || k === "s")
                            this.#refuse(this.#line, "a number glued to a word (psql splits those its own way; pg_dump writes none)");
                    }
                    if (k === "w")
                        ended = this.#word.toLowerCase();
                    this.#endWord(b);
                }
                if (b === 0x2d && prev === 0x2d) {
                    this.#state = "lineComment";
                    this.#untoken("-");
                }
                else if (b === 0x2a && prev === 0x2f) {
                    this.#state = "blockComment";
                    this.#blockDepth = 1;
                    this.#untoken("/");
                    this.#prev = 0;
                    return;
                }
                else if (b === 0x27) {
                    this.#state = ended === "e" ? "escape" : "single";
                    this.#text = "";
                }
                else if (b === 0x22) {
                    this.#state = "double";
                    this.#text = "";
                }
                else if (b === 0x24) {
                    this.#state = "dollarOpen";
                    this.#tag = [b];
                }
                else if (b === 0x3b) {
                    this.#semicolon();
                }
                else if (isIdentStart(b)) {
                    this.#wordKind = "w";
                    this.#word = String.fromCharCode(b);
                }
                else if (isDigit(b)) {
                    this.#wordKind = "n";
                    this.#word = String.fromCharCode(b);
                }
                else if (b === 0x28) {
                    this.#token("p", "(");
                    this.#paren++;
                }
                else if (b === 0x29) {
                    if (this.#paren > 0)
                        this.#paren--;
                    this.#token("p", ")");
                }
                else if (b > 0x20 && b < 0x7f) {
                    this.#token("p", String.fromCharCode(b));
                }
                break;
            }
            case "single":
            case "escape":
                if (b === 0x27) {
                    if (this.#state === "escape")
                        this.#state = "escapeQuote";
                    else {
                        this.#state = "normal";
                        this.#token("s", this.#text);
                    }
                }
                else {
                    if (b === BACKSLASH && this.#state === "escape")
                        this.#state = "escapeBackslash";
                    if (this.#text.length < MAX_TEXT)
                        this.#text += String.fromCharCode(b);
                }
                break;
            case "escapeBackslash":
                this.#state = "escape";
                if (this.#text.length < MAX_TEXT)
                    this.#text += String.fromCharCode(b);
                break;
            case "escapeQuote":
                if (b === 0x27)
                    this.#state = "escape";
                else {
                    this.#state = "normal";
                    this.#token("s", this.#text);
                    this.#prev = 0;
                    this.#step(b);
                    return;
                }
                break;
            case "double":
                if (b === 0x22) {
                    this.#state = "normal";
                    this.#token("q", this.#text);
                }
                else if (this.#text.length < MAX_TEXT)
                    this.#text += String.fromCharCode(b);
                break;
            case "dollarOpen":
                if (b === 0x24) {
                    this.#tag.push(b);
                    this.#state = "dollar";
                    this.#tagMatch = 0;
                    this.#token("s", "$");
                }
                else if (this.#tag.length === 1 ? isIdentStart(b) : isIdentByte(b))
                    this.#tag.push(b);
                else {
                    // `$1` or `a $ b`: not a dollar quote after all
                    this.#state = "normal";
                    this.#token("p", "$");
                    this.#prev = 0x24;
                    this.#step(b);
                    return;
                }
                break;
            case "dollar":
                if (b === this.#tag[this.#tagMatch]) {
                    this.#tagMatch++;
                    if (this.#tagMatch === this.#tag.length) {
                        this.#state = "normal";
                        this.#prev = 0;
                        return;
                    }
                }
                else
                    this.#tagMatch = b === 0x24 ? 1 : 0;
                break;
            case "lineComment":
                if (b === NL)
                    this.#state = "normal";
                break;
            case "blockComment":
                if (b === 0x2a && prev === 0x2f) {
                    this.#blockDepth++;
                    this.#prev = 0;
                    return;
                }
                if (b === 0x2f && prev === 0x2a) {
                    this.#blockDepth--;
                    if (this.#blockDepth === 0)
                        this.#state = "normal";
                    this.#prev = 0;
                    return;
                }
                break;
            case "meta":
                break;
        }
        this.#prev = b;
    }
    /** The `-` or `/` that opened a comment was not a token. */
    #untoken(c) {
        const last = this.#tokens[this.#tokens.length - 1];
        if (last?.kind === "p" && last.text === c)
            this.#tokens.pop();
    }
    /** A whole backslash line: only the dump's own `\restrict K` / `\unrestrict K` pass (and are dropped). */
    #endMeta() {
        const text = Buffer.from(this.#meta).toString("latin1").replace(/\r$/, "");
        this.#state = "normal";
        this.#prev = 0;
        const restrict = /^\\restrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
        const unrestrict = /^\\unrestrict ([A-Za-z0-9]{1,64})\s*$/.exec(text);
        if (this.#metaAtLineStart && this.#tokens.length === 0 && this.#paren === 0) {
            if (restrict && this.#dumpKey === undefined) {
                this.#dumpKey = restrict[1];
                return;
            }
            if (unrestrict && this.#dumpKey === unrestrict[1] && !this.#unrestricted) {
                this.#unrestricted = true;
                return;
            }
        }
        this.#refuseMeta();
    }
    #refuseMeta() {
        const name = (/^\\[^\s\\]{0,20}/.exec(Buffer.from(this.#meta).toString("latin1"))?.[0] ?? "\\").replace(/[^\x21-\x7e]/g, "?");
        const why = name === "\\restrict" || name === "\\unrestrict"
            ? "a second or unmatched \\restrict/\\unrestrict (pg_dump writes one pair with one key)"
            : "a psql meta-command outside COPY data, which pg_dump never writes";
        this.#refuse(this.#metaLine, `${name}: ${why}`);
    }
    #refuse(line, what, statement = false) {
        this.#onRefuse?.();
        throw new shared_errors/* UserError */.yo(`${this.#file} line ${line} holds ${what}. The backup was refused before psql could ${statement ? "run that statement" : "read it"}; ` +
            "it is not a genuine pg_dump backup (it was altered, or written by something else). Restore another backup");
    }
}

;// CONCATENATED MODULE: ./src/restore/restore-stream.ts











/** A child failure that only follows from another stage dying (a broken pipe) is never the cause. */
const isConsequence = (err) => /SIGPIPE|EPIPE|Broken pipe|write error|Premature close|write after end|destroyed/i.test(err.message) ||
    ["EPIPE", "ERR_STREAM_PREMATURE_CLOSE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END"].includes(err.code ?? "");
/**
 * Waits for every stage; on failure stops the others and reports the failure that is the cause: of
 * the stages that failed on their own (not a broken pipe, not stopped by us), the one furthest
 * upstream — a gpg that cannot decrypt starves pigz, whose complaint may well arrive first.
 * `node` is the reading end (file or bucket → hash → first child), then `children` in pipe order.
 */
async function settle(node, children) {
    const arrived = [];
    let stopped = false;
    const all = [node, ...children.map((c) => c.exited)];
    for (const [position, p] of all.entries()) {
        p.catch((error) => {
            arrived.push({ error, afterStop: stopped, position });
            if (!stopped) {
                stopped = true;
                for (const c of children)
                    c.kill();
            }
        });
    }
    await Promise.allSettled(all);
    if (!arrived.length)
        return;
    const own = arrived
        .filter((f) => !isConsequence(f.error) && !(f.afterStop && /SIGTERM/.test(f.error.message)))
        .sort((a, b) => a.position - b.position);
    throw (own[0] ?? arrived[0]).error;
}
/**
 * Streams one backup into the database named by `env`: the file is read once, hashed on the way,
 * decrypted by gpg and decompressed by pigz/zstd, whose output feeds psql through a kernel pipe.
 * Plain dumps run through `psql -v ON_ERROR_STOP=1 --single-transaction` (any SQL error fails the
 * restore and leaves nothing behind) in restricted mode, behind a guard that refuses any psql
 * meta-command and any statement pg_dump never writes (see PsqlGuard). That fences the restore in, but
 * is no sandbox: what an allowed statement runs (a function in an index or default) runs with the
 * restoring role's rights. Custom archives through `pg_restore -j N --exit-on-error`.
 * The caller compares the returned SHA-256 with the sidecar before trusting the result.
 */
async function streamBackupInto(options) {
    const { entry } = options;
    const env = { ...options.env, PGAPPNAME: "lifeline-restore" };
    const digest = new DigestTap();
    if (entry.format === "custom") {
        // An unencrypted local archive is restored from the file itself while it is hashed (the page cache
        // makes that one read); anything else is first decrypted/downloaded into a seekable temp file.
        if (!entry.encrypted && entry.store instanceof LocalStore) {
            const input = await entry.store.get(entry.fileName); // a regular file only, never a FIFO
            // pg_restore reads the very file hashed here, not whatever the path names by the time it opens
            // it: it gets our descriptor as its fd 3, and /dev/fd/3 (which its -j workers reopen) is that
            // open file on Linux, even if the name has been replaced since.
            const fd = input.fd;
            if (typeof fd !== "number")
                throw new Error(`${entry.uri}: the opened archive has no file descriptor`);
            await checkArchiveStatements(options, env, entry.uri, "/dev/fd/3", [fd]);
            const restore = startPgRestore(options, env, "/dev/fd/3", [fd]);
            await settle((0,external_node_stream_promises_namespaceObject.pipeline)(input, digest, sink()), [restore]);
            return {
                sha256: digest.hex(),
                bytesRead: digest.bytes,
                topology: `pg_restore -j ${options.jobs} (file)`,
            };
        }
        const dir = await (0,promises_.mkdtemp)(external_node_path_default().join(options.tempDir ?? (0,external_node_os_.tmpdir)(), "lifeline-restore-"));
        try {
            const file = external_node_path_default().join(dir, "archive.dump");
            const input = await entry.store.get(entry.fileName, options.signal);
            const gpg = entry.encrypted ? requireKeyring(options).startDecrypt() : undefined;
            const out = (0,external_node_fs_.createWriteStream)(file, { mode: 0o600 });
            await settle(gpg
                ? Promise.all([(0,external_node_stream_promises_namespaceObject.pipeline)(input, digest, gpg.stdin), (0,external_node_stream_promises_namespaceObject.pipeline)(gpg.stdout, out)])
                : (0,external_node_stream_promises_namespaceObject.pipeline)(input, digest, out), gpg ? [gpg] : []);
            await checkArchiveStatements(options, env, entry.uri, file);
            const restore = startPgRestore(options, env, file);
            await settle(Promise.resolve(), [restore]);
            return {
                sha256: digest.hex(),
                bytesRead: digest.bytes,
                topology: `${gpg ? "gpg --decrypt > temp file, " : "temp file, "}pg_restore -j ${options.jobs}`,
            };
        }
        finally {
            await (0,promises_.rm)(dir, { recursive: true, force: true });
        }
    }
    requireRestrictablePsql(options.psql, entry.uri);
    const input = await entry.store.get(entry.fileName, options.signal);
    const children = [];
    const names = [];
    try {
        // gpg and pigz/zstd are chained through kernel pipes (each reads the previous one's stdout);
        // what reaches psql passes through the guard in this process, so psql never reads the file itself.
        let upstream;
        const chain = (stage, name) => {
            children.push(stage);
            names.push(name);
            if (upstream)
                upstream.destroy(); // the child holds its own copy of the pipe now
            upstream = stage.stdout;
        };
        if (entry.encrypted)
            chain(requireKeyring(options).startDecrypt(), "gpg --decrypt");
        const program = decompressorProgram(entry.compression);
        const nodeStages = [];
        if (program) {
            chain(startChildStage(program.command, program.command, program.args, { stdin: upstream ?? true }), `${program.command} ${program.args.join(" ")}`);
        }
        else if (entry.compression !== "none") {
            if (entry.encrypted)
                throw new Error(`${entry.compression} restores of encrypted backups need the ${entry.compression} program`);
            nodeStages.push(createDecompressor(entry.compression));
            names.push(`node ${entry.compression}`);
        }
        const psql = startChildStage("psql", options.psql.path, ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-o", "/dev/null"], { env, stdin: true });
        psql.stdout.resume();
        // On refusal psql is stopped first: it must not reach the end of its input, where
        // --single-transaction would commit what came before (into the new database, dropped anyway).
        const guard = new PsqlGuard({ file: entry.uri, onRefuse: () => psql.kill() });
        names.push("meta-command guard", "psql --single-transaction (restricted)");
        const first = children[0];
        const reading = first
            ? Promise.all([
                (0,external_node_stream_promises_namespaceObject.pipeline)(input, digest, first.stdin),
                (0,external_node_stream_promises_namespaceObject.pipeline)(upstream, guard, psql.stdin),
            ])
            : (0,external_node_stream_promises_namespaceObject.pipeline)(input, digest, ...nodeStages, guard, psql.stdin);
        children.push(psql);
        await settle(reading, children);
        return { sha256: digest.hex(), bytesRead: digest.bytes, topology: names.join(" | ") };
    }
    catch (err) {
        input.destroy();
        for (const c of children)
            c.kill();
        throw err;
    }
}
/**
 * A custom archive's SQL is held to the same rule as a plain dump's before anything is restored: its
 * schema (pre-data and post-data sections: no table data, so this is quick) as `pg_restore -f -` writes
 * it goes through the guard (statements pg_dump never writes, psql meta-commands), and nothing is
 * restored when it refuses. The data section (COPY statements, sequence values, large objects) is not
 * listed here.
 */
async function checkArchiveStatements(options, env, uri, file, fds = []) {
    const listing = startChildStage("pg_restore --schema-only -f -", options.pgRestore.path, ["--schema-only", "-f", "-", file], { env, fds });
    const guard = new PsqlGuard({
        file: `${uri} (its schema as pg_restore -f - writes it)`,
        onRefuse: () => listing.kill(),
    });
    await settle((0,external_node_stream_promises_namespaceObject.pipeline)(listing.stdout, guard, sink()), [listing]);
}
function startPgRestore(options, env, file, fds = []) {
    const stage = startChildStage("pg_restore", options.pgRestore.path, ["--no-password", "--exit-on-error", "-j", String(options.jobs), "-d", env.PGDATABASE ?? "", file], { env, fds });
    stage.stdout.resume();
    return stage;
}
function requireKeyring(options) {
    if (!options.keyring)
        throw new Error(`${options.entry.uri} is encrypted but no GPG keyring was prepared`);
    return options.keyring;
}
const sink = () => new external_node_stream_.Writable({
    write(_chunk, _encoding, done) {
        done();
    },
});

;// CONCATENATED MODULE: ./src/restore/restore-and-prove.ts












/**
 * Re-applies the database's own properties recorded in the manifest (pg_dump without --create leaves
 * them out) to the new database; undefined when there are none to apply, which is said.
 */
async function reapplyProperties(client, options) {
    const { manifest, logger, entry } = options;
    if (!manifest)
        return undefined;
    const recorded = manifest.databaseProperties;
    if (!recorded) {
        logger.warn(`The manifest of ${entry.fileName} does not record the database's properties (it predates them): its ACL, ` +
            `comment and ALTER DATABASE/ROLE ... SET settings were not re-applied to "${options.database}"; set them by hand if it had any`);
        return undefined;
    }
    if (recorded.error) {
        logger.warn(`The database's properties could not be read when ${entry.fileName} was taken (${recorded.error}): ` +
            `its ACL, comment and settings were not re-applied to "${options.database}"; set them by hand`);
        return undefined;
    }
    const wanted = await unsealSettings(recorded, options);
    const { missingRoles, applied } = await applyProperties(client, options.database, wanted);
    for (const role of missingRoles)
        logger.warn(`Role "${role}" does not exist on this server: its privileges on and settings in the database were not ` +
            `re-applied (the restored database grants less, never more); create the role and grant them by hand`);
    logger.info(`Re-applied the database's properties to "${options.database}" (${applied} statements)`);
    return { recorded: wanted, missingRoles };
}
/** The recorded properties with an encrypted backup's settings decrypted with the restore's keyring. */
async function unsealSettings(recorded, options) {
    if (recorded.sealedSettings === undefined)
        return recorded;
    const fail = (why, cause) => new shared_errors/* UserError */.yo(`The database settings in the manifest of ${options.entry.fileName} are encrypted and ${why}: ` +
        "give the backup's secret key (BACKUP_GPG_PRIVATE_KEY or GNUPGHOME), or restore without the manifest by moving it away", { cause });
    if (!options.keyring)
        throw fail("there is no key to decrypt them with");
    let settings;
    try {
        settings = JSON.parse(await openSealedText(options.keyring, recorded.sealedSettings));
    }
    catch (err) {
        throw fail(`could not be decrypted (${err.message})`, err);
    }
    const valid = Array.isArray(settings) &&
        settings.every((s) => (s.role === null || typeof s.role === "string") &&
            Array.isArray(s.settings) &&
            s.settings.every((x) => typeof x === "string"));
    if (!valid)
        throw fail("do not decrypt to a list of settings");
    return { ...recorded, settings: settings };
}
/**
 * psql and pg_restore for the server: at least its major version, the closest one (as for pg_dump); a
 * psql that can be put in restricted mode is preferred (plain backups are refused without one).
 */
async function chooseRestoreTools(client, pgBinDir) {
    const num = Number((await client.query("SELECT current_setting('server_version_num') AS v")).rows[0].v);
    const serverMajor = Math.floor(num / 10000);
    const [psql, pgRestore] = await Promise.all([
        choosePgTool("psql", serverMajor, pgBinDir, psqlCanRestrict),
        choosePgTool("pg_restore", serverMajor, pgBinDir),
    ]);
    return { serverMajor, psql, pgRestore };
}
/**
 * A caution when the role restoring is a superuser or has CREATEROLE: the guard refuses the statements
 * pg_dump never writes, but what an allowed statement runs (a function called by a default, a CHECK
 * constraint or an index expression while the data goes in) runs with this role's rights, and can then
 * reach beyond the new database. Undefined for an ordinary role.
 */
async function privilegedRoleWarning(options) {
    const client = await connectClient({ ...options.connection, database: options.database }, "lifeline-restore-role");
    try {
        const { rows } = await client.query("SELECT rolname AS name, rolsuper AS superuser, rolcreaterole AS createrole FROM pg_roles WHERE rolname = current_user");
        const role = rows[0];
        if (!role || !(role.superuser || role.createrole))
            return undefined;
        return (`The restoring role "${role.name}" is ${role.superuser ? "a superuser" : "allowed to CREATEROLE"}: Lifeline refuses ` +
            "psql meta-commands and every statement pg_dump never writes, but a tampered backup can still reach beyond the new " +
            "database through functions its allowed statements call (defaults, CHECK constraints, index expressions), which " +
            "run with this role's rights. Restore with a dedicated role that has CREATEDB only (and owns nothing else)");
    }
    finally {
        await client.end().catch(() => { });
    }
}
/**
 * Restores a backup into `database` and proves it: the file's SHA-256 against its sidecar, then the
 * catalog (schemas, tables and row counts, sequences, extensions) against the manifest, then any
 * extra SQL checks. Restore errors throw; proof failures come back as `problems`.
 */
async function restoreAndProve(options) {
    const { entry, logger } = options;
    const started = performance.now();
    logger.info(`Restoring ${entry.uri} into the new database "${options.database}"`);
    const privileged = await privilegedRoleWarning(options);
    if (privileged)
        logger.warn(privileged);
    const streamed = await streamBackupInto({
        entry,
        env: libpqEnvironment({ ...options.connection, database: options.database }),
        psql: options.tools.psql,
        pgRestore: options.tools.pgRestore,
        jobs: options.jobs,
        keyring: options.keyring,
        tempDir: options.tempDir,
        signal: options.signal,
    });
    const restoreSeconds = (performance.now() - started) / 1000;
    logger.info(`Restored ${streamed.bytesRead} bytes in ${restoreSeconds.toFixed(1)} s via ${streamed.topology}`);
    const problems = [];
    if (streamed.sha256 !== options.expectedSha256) {
        problems.push(`sha256 mismatch: ${entry.fileName} has ${streamed.sha256}, its sidecar says ${options.expectedSha256}`);
        return {
            sha256: streamed.sha256,
            topology: streamed.topology,
            warnings: privileged ? [privileged] : [],
            comparison: undefined,
            checks: [],
            problems,
            restoreSeconds,
        };
    }
    logger.info(`sha256 ${streamed.sha256} matches the sidecar`);
    const client = await connectClient({ ...options.connection, database: options.database }, "lifeline-restore-check");
    try {
        const recordedProperties = await reapplyProperties(client, options);
        await options.afterRestoreHook?.(client);
        let comparison;
        const expected = options.manifest?.catalog;
        if (!options.manifest) {
            logger.warn(`${entry.fileName} has no manifest: nothing to compare the restore with beyond psql's success`);
        }
        else if (!expected || expected.error) {
            logger.warn(`The manifest of ${entry.fileName} has no readable catalog (${expected?.error ?? "missing"}): not compared`);
        }
        else {
            const actual = await readCatalog(client, expected.rowCounts === "exact" ? "exact" : "off", "restored");
            comparison = compareCatalogs(expected, actual);
            if (comparison.ok) {
                logger.info(`The restore matches the manifest: ${expected.schemas.length} schemas, ${expected.tables.length} tables, ` +
                    `${expected.sequences.length} sequences, ${expected.extensions.length} extensions`);
            }
        }
        if (recordedProperties) {
            const restored = await readDatabaseProperties(client);
            const props = compareProperties(recordedProperties.recorded, restored, recordedProperties.missingRoles);
            const mismatches = props.rows
                .filter((r) => !r.ok)
                .map((r) => `database ${r.name}: ${r.expected} in the manifest, ${r.actual} in the restore`);
            if (!mismatches.length)
                logger.info("The database's ACL, comment, connection limit and settings match the manifest");
            comparison = {
                ok: (comparison?.ok ?? true) && mismatches.length === 0,
                rows: [...(comparison?.rows ?? []), ...props.rows],
                notes: [...(comparison?.notes ?? []), ...props.notes],
                mismatches: [...(comparison?.mismatches ?? []), ...mismatches],
            };
        }
        for (const note of comparison?.notes ?? [])
            logger.info(`compare: ${note}`);
        for (const m of comparison?.mismatches ?? []) {
            problems.push(`restore differs from the manifest: ${m}`);
            logger.error(`compare: ${m}`);
        }
        const checks = options.checkSql?.length ? await runSqlChecks(client, options.checkSql) : [];
        for (const c of checks) {
            if (c.ok)
                logger.info(`check OK: ${c.sql} → ${c.detail}`);
            else {
                problems.push(`SQL check failed: ${c.sql} → ${c.detail}`);
                logger.error(`check FAILED: ${c.sql} → ${c.detail}`);
            }
        }
        return {
            sha256: streamed.sha256,
            topology: streamed.topology,
            warnings: privileged ? [privileged] : [],
            comparison,
            checks,
            problems,
            restoreSeconds,
        };
    }
    finally {
        await client.end().catch(() => { });
    }
}

;// CONCATENATED MODULE: ./src/verify/verify-file.ts









/** Classes whose objects cannot be read without a restore request first (hours): not downloaded. */
const ARCHIVED_CLASSES = new Set(["GLACIER", "DEEP_ARCHIVE", "Archive"]);
const verify_file_discard = () => new external_node_stream_.Writable({
    write(_chunk, _enc, done) {
        done();
    },
});
/**
 * Checks one backup in a single streamed read, wherever it is stored (a directory or a bucket):
 * SHA-256 against its sidecar, GPG decryption (when a secret key is at hand), a full decompression
 * (gzip/zstd checksums), pg_dump's completion trailer (plain) or archive magic (custom), and agreement
 * with its manifest when there is one. Objects in an archive class are not downloaded: their sidecar,
 * manifest and recorded checksum are checked, and a note says the contents were not read.
 */
async function verifyBackupFile(store, name, options = {}) {
    const fileName = name.toString();
    const file = store.uri(fileName);
    let object;
    try {
        object = await store.stat(fileName);
    }
    catch (err) {
        // Not a regular file in a directory (a FIFO, a link, a directory): named, never opened.
        return { file, name, sizeBytes: 0, ok: false, passed: [], notes: [], problem: err.message };
    }
    const sizeBytes = object?.sizeBytes ?? 0;
    const passed = [];
    const notes = [];
    const fail = (problem) => ({ file, name, sizeBytes, ok: false, passed, notes, problem });
    if (!object)
        return { file, name, sizeBytes, ok: false, passed: [], notes: [], problem: "it is gone" };
    // The catalog's one reading of a sidecar: regular file, size-bounded, one line naming this file.
    const read = await readSidecar(store, fileName, undefined, options.signal);
    if (read.state === "absent")
        return fail(`no ${CHECKSUM_SUFFIX} sidecar`);
    if (read.state === "bad") {
        if (read.fault === "names-other")
            return fail(`${CHECKSUM_SUFFIX} sidecar names another file, '${read.names}'`);
        if (read.cause)
            return fail(`cannot read its ${CHECKSUM_SUFFIX} sidecar: ${read.cause.message}`);
        return fail(read.problem);
    }
    if (read.state !== "ok")
        return fail(`its ${CHECKSUM_SUFFIX} sidecar was not read`);
    const sidecar = { sha256: read.sha256 };
    if (sizeBytes === 0)
        return fail("empty file");
    if (object.storageClass && ARCHIVED_CLASSES.has(object.storageClass)) {
        if (object.sha256 !== undefined && object.sha256 !== sidecar.sha256)
            return fail(`the object's recorded sha256 ${object.sha256} differs from its sidecar's ${sidecar.sha256}`);
        notes.push(`in ${object.storageClass}: contents not read (restore the object first to check them)`);
        return { file, name, sizeBytes, ok: true, passed: ["sidecar"], notes };
    }
    const open = () => store.get(fileName, options.signal);
    let decrypt = name.encrypted;
    let content;
    try {
        content = await readThrough(open, name, decrypt, false, options.gpgEnv);
    }
    catch (err) {
        const message = err.message;
        if (decrypt && options.requireDecryption && /no secret key|secret key not available/i.test(message)) {
            content = { error: `gpg cannot decrypt it with the key given (wrong key?): ${message}` };
        }
        else if (decrypt && /no secret key|secret key not available/i.test(message)) {
            decrypt = false;
            notes.push("not decrypted: no secret key for it here (give one to check the contents)");
            content = await readThrough(open, name, false).catch((e) => ({ error: e.message }));
        }
        else {
            content = { error: message };
        }
    }
    if ("error" in content) {
        // The digest may be incomplete when reading failed, so the sha256 is judged separately.
        const digestOnly = await readThrough(open, name, false, true).catch(() => undefined);
        if (digestOnly && !("error" in digestOnly) && digestOnly.sha256 !== sidecar.sha256) {
            return fail(`sha256 mismatch: file has ${digestOnly.sha256}, sidecar says ${sidecar.sha256}`);
        }
        return fail(content.error);
    }
    if (content.sha256 !== sidecar.sha256)
        return fail(`sha256 mismatch: file has ${content.sha256}, sidecar says ${sidecar.sha256}`);
    passed.push("sha256");
    if (decrypt)
        passed.push("gpg");
    if (content.checkedContent) {
        const compression = compressionOfExtension(name.extension);
        if (compression !== "none")
            passed.push(compression);
        if (name.extension === "dump") {
            if (content.head !== CUSTOM_DUMP_MAGIC)
                return fail(`not a pg_dump custom archive (no ${CUSTOM_DUMP_MAGIC} magic)`);
            passed.push("archive magic");
        }
        else {
            if (!content.tail.includes(PLAIN_DUMP_TRAILER))
                return fail(`dump is incomplete: no '${PLAIN_DUMP_TRAILER}' at its end`);
            passed.push("dump trailer");
        }
    }
    let manifestText;
    try {
        manifestText = await readManifestText(store, fileName);
    }
    catch (err) {
        return fail(`cannot read its ${MANIFEST_SUFFIX}: ${err.message}`);
    }
    if (manifestText === undefined) {
        notes.push("no manifest");
    }
    else {
        let manifest;
        try {
            manifest = JSON.parse(manifestText);
        }
        catch {
            return fail(`${MANIFEST_SUFFIX} is not valid JSON`);
        }
        if (manifest.sha256 !== content.sha256)
            return fail(`manifest sha256 ${manifest.sha256} differs from the file's`);
        if (manifest.sizeBytes !== sizeBytes)
            return fail(`manifest size ${manifest.sizeBytes} differs from the file's ${sizeBytes}`);
        passed.push("manifest");
    }
    return { file, name, sizeBytes, ok: true, passed, notes };
}
/** Streams the file once: digest, then (unless digestOnly) decrypt and decompress, keeping head and tail. */
async function readThrough(open, name, decrypt, digestOnly = false, gpgEnv = process.env) {
    const digest = new DigestTap();
    const edge = new EdgeTap(TRAILER_WINDOW, CUSTOM_DUMP_MAGIC.length);
    const checkContent = !digestOnly && (!name.encrypted || decrypt);
    const stages = [digest];
    const gpg = checkContent && decrypt
        ? startChildStage("gpg --decrypt", "gpg", [...GPG_BASE_ARGS, "--quiet", "--decrypt"], {
            stdin: true,
            env: gpgEnv,
        })
        : undefined;
    if (gpg)
        stages.push(external_node_stream_.Duplex.from({ writable: gpg.stdin, readable: gpg.stdout }));
    if (checkContent)
        stages.push(createDecompressor(compressionOfExtension(name.extension)), edge);
    try {
        await Promise.all([
            (0,external_node_stream_promises_namespaceObject.pipeline)(await open(), ...stages, verify_file_discard()),
            ...(gpg ? [gpg.exited] : []),
        ]);
    }
    catch (err) {
        // When gpg fails (no secret key, bad data) the decompressor only sees input end early: gpg's own
        // words are the cause.
        const gpgFailure = gpg
            ? await gpg.exited.then(() => undefined, (e) => e)
            : undefined;
        gpg?.kill();
        if (gpgFailure)
            throw gpgFailure;
        const e = err;
        const what = e.code?.startsWith("Z_") || /incorrect header|unexpected end|invalid|corrupt/i.test(e.message)
            ? "decompression failed"
            : "read failed";
        throw new Error(gpg && /gpg/.test(e.message) ? e.message : `${what}: ${e.message}`);
    }
    return {
        sha256: digest.hex(),
        checkedContent: checkContent,
        head: edge.head().toString("latin1"),
        tail: edge.tail().toString("utf8"),
    };
}

;// CONCATENATED MODULE: ./src/verify/verify-backups.ts















/** The runbook's verify_backup.sh exit codes (backup-db --verify-only uses them too). */
const VERIFY_EXIT = { ok: 0, failures: 1, tooOldOrMissing: 2 };
/** The scope of `backup-db --verify-only`. */
const LOCAL_SCOPE = { stores: "local", testRestore: false };
/** How much older than max-age-hours each tier's newest backup may be: weekly and monthly come less often. */
const FUTURE_TOLERANCE_HOURS = 1;
const TIER_GRACE_HOURS = { daily: 0, weekly: 7 * 24, monthly: 31 * 24 };
/**
 * The runbook's verify_backup.sh: checks every backup (sidecar SHA-256, full decompression, gpg when a
 * key is at hand, completeness, manifest) in BACKUP_DIR and every configured bucket, judges each tier's
 * newest backup's age, and with test-restore restores one into a scratch database, proves it against
 * its manifest and the extra SQL checks, and drops it. Exit code 1 for any failure, else 2 when too old
 * or missing, else 0.
 */
function verifyBackups(config, options) {
    return verify({ stores: "all", testRestore: config.testRestore !== undefined, config }, options);
}
/**
 * `backup-db --verify-only` (runbook: backup_db.sh --verify-only): the same verification as
 * {@link verifyBackups}, with the same age rules, exit codes, metrics and report, scoped to the tier
 * directories of `backupDir` and without a test restore. `now` fixes the clock (tests).
 */
function verifyLocalBackups(backupDir, options) {
    const { prefix, maxAgeHours, metrics, now, ...rest } = options;
    return verify({
        ...LOCAL_SCOPE,
        config: {
            backupDir,
            prefix,
            maxAgeHours,
            metrics: metrics ?? { pushgatewayUrl: undefined, job: "lifeline", textfile: undefined },
        },
    }, { ...rest, ...(now && { now: () => now }) });
}
/** The one verify engine: every scope runs through here. */
async function verify(target, options) {
    const { config } = target;
    const all = target.stores === "all" ? target.config : undefined;
    const testRestoreSettings = target.testRestore ? all?.testRestore : undefined;
    const now = options.now ?? (() => new Date());
    const started = now();
    const { logger } = options;
    if (testRestoreSettings)
        logger.addSecret(testRestoreSettings.connection.password);
    const keyring = await GpgDecryptKeyring.prepare(all?.gpgPrivateKey);
    try {
        const fileOptions = {
            gpgEnv: keyring.env(),
            requireDecryption: all?.gpgPrivateKey !== undefined,
            signal: options.signal,
        };
        const local = await verifyLocalTiers(config.backupDir, config.prefix, logger, fileOptions);
        const checks = [...local];
        const locations = [
            { location: config.backupDir, checks: local },
        ];
        // Every configured bucket is checked the same way: its copies are what a lost host leaves.
        for (const destination of all?.destinations ?? []) {
            (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The verification was cancelled");
            const store = await openStore(destination, logger, options.signal);
            const here = { location: store.location, checks: [] };
            locations.push(here);
            const entries = await listBackups([store], config.prefix); // newest first
            const chosen = all?.verifyRemote === "newest"
                ? entries.filter((e, i) => entries.findIndex((o) => o.tier === e.tier) === i)
                : entries;
            if (chosen.length < entries.length) {
                logger.info(`verify ${store.location}: ${entries.length - chosen.length} older cop${entries.length - chosen.length === 1 ? "y" : "ies"} not downloaded (BACKUP_VERIFY_REMOTE=newest)`);
            }
            for (const entry of chosen) {
                here.checks.push(await verifyAndLog(store, entry.name, entry.uri, logger, fileOptions));
            }
            checks.push(...here.checks);
        }
        const at = now();
        // A name dated ahead of the clock (a wrong clock, a renamed file) would pass as fresh for years:
        // it never counts as the newest, and it fails the run so that monitoring sees it.
        const latestCredible = at.getTime() + FUTURE_TOLERANCE_HOURS * 3_600_000;
        const future = checks.filter((c) => c.ok && c.name.takenAt.getTime() > latestCredible);
        const ages = locations.flatMap(({ location, checks: found }) => TIERS.map((tier) => {
            const newest = found
                .filter((c) => c.ok && c.name.tier === tier && c.name.takenAt.getTime() <= latestCredible)
                .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
            const ageHours = newest ? (at.getTime() - newest.name.takenAt.getTime()) / 3_600_000 : undefined;
            const limitHours = config.maxAgeHours + TIER_GRACE_HOURS[tier];
            // Weekly and monthly copies may not be due yet on a new installation: only a missing daily counts.
            const ok = ageHours === undefined ? tier !== "daily" : ageHours <= limitHours;
            return { location, tier, newest: newest?.name.toString(), ageHours, limitHours, ok };
        }));
        let testRestore;
        if (all && testRestoreSettings) {
            (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The verification was cancelled before the test restore");
            // The newest credible backup is restored: one dated ahead of the clock is not the newest.
            const credible = checks.filter((c) => !future.includes(c));
            testRestore = await runTestRestore(all, credible, keyring, options, started);
        }
        // A cancelled run is never a success: it records no verification and no metrics of its own.
        (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The verification was cancelled");
        const reasons = [];
        const failed = checks.filter((c) => !c.ok);
        if (failed.length)
            reasons.push(`${failed.length} of ${checks.length} backup(s) failed verification`);
        for (const c of future) {
            reasons.push(`${c.file} is dated ${c.name.takenAt.toISOString()}, ahead of this host's clock (${at.toISOString()}): ` +
                "a wrong clock where it was taken, or a renamed file; it does not count as the newest backup — fix the clock or remove the file");
        }
        if (testRestore && !testRestore.ok)
            reasons.push(`test restore of ${testRestore.backup} failed: ${testRestore.problems.join("; ")}`);
        for (const a of ages.filter((x) => !x.ok)) {
            reasons.push(a.ageHours === undefined
                ? `no good ${a.tier} backup in ${a.location === config.backupDir ? external_node_path_default().join(config.backupDir, a.tier) : a.location}`
                : `the newest good ${a.tier} backup in ${a.location} is ${a.ageHours.toFixed(1)} h old, over the ${a.limitHours} h limit`);
        }
        const exitCode = failed.length || future.length || (testRestore && !testRestore.ok)
            ? VERIFY_EXIT.failures
            : reasons.length
                ? VERIFY_EXIT.tooOldOrMissing
                : VERIFY_EXIT.ok;
        const finishedAt = now();
        const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
        const newestAgeHours = ages.find((a) => a.tier === "daily" && a.location === config.backupDir)?.ageHours;
        const metrics = await publishMetrics(config.metrics, { type: "database" }, verifySamples("database", {
            ok: exitCode === 0,
            exitCode,
            finishedAt,
            durationSeconds,
            newestAgeHours,
        }), logger);
        return {
            checks,
            ages,
            newestAgeHours,
            maxAgeHours: config.maxAgeHours,
            testRestore,
            exitCode,
            reasons,
            durationSeconds,
            metrics,
        };
    }
    finally {
        await keyring.dispose();
    }
}
/** Checks one backup and logs the result the way every verify run does. */
async function verifyAndLog(store, name, label, logger, options) {
    (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The verification was cancelled");
    const check = await verifyBackupFile(store, name, options);
    // A check cut short by the cancellation says nothing about the file: the run stops instead.
    (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, "The verification was cancelled");
    const notes = check.notes.length ? ` (${check.notes.join("; ")})` : "";
    if (check.ok)
        logger.info(`verify ${label}: OK [${check.passed.join(", ")}]${notes}`);
    else
        logger.error(`verify ${label}: FAILED: ${check.problem}`);
    return check;
}
/** Checks every backup in BACKUP_DIR's tier directories (of one prefix, if given), newest first per tier. */
async function verifyLocalTiers(backupDir, prefix, logger, options) {
    const checks = [];
    for (const tier of TIERS) {
        const store = new LocalStore(external_node_path_default().join(backupDir, tier));
        let names;
        try {
            names = (await listBackups([store], prefix)).filter((e) => e.tier === tier).map((e) => e.name);
            // Entries named like a backup that are not regular files (FIFOs, directories, links) fail by name.
            for (const other of await store.listOthers()) {
                const name = BackupName.parse(other.name);
                if (name?.tier === tier && (prefix === undefined || name.prefix === prefix))
                    names.push(name);
            }
        }
        catch (err) {
            // A tier that cannot be listed (a file in its place) is one failed check; the other tiers are still verified.
            if (!(err instanceof NotDirectoryError))
                throw err;
            logger.error(`verify ${tier}: FAILED: ${err.message}`);
            // The name only carries the tier (for the summary); a failed check never counts as a backup.
            const tierName = new BackupName(prefix ?? "", tier, new Date(0), "sql.gz");
            checks.push({
                file: store.dir,
                name: tierName,
                sizeBytes: 0,
                ok: false,
                passed: [],
                notes: [],
                problem: err.message,
            });
            continue;
        }
        names.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime());
        for (const name of names) {
            checks.push(await verifyAndLog(store, name, `${tier}/${name.toString()}`, logger, options));
        }
    }
    return checks;
}
/** The scratch database of one verification: unique, and recognisably Lifeline's. */
const scratchDatabaseName = (at) => `lifeline_verify_${formatTimestamp(at)}_${(0,external_node_crypto_.randomBytes)(3).toString("hex")}`;
async function runTestRestore(config, checks, keyring, options, started) {
    const settings = config.testRestore;
    const { logger } = options;
    let entry;
    if (settings.backupFile !== undefined) {
        entry = await findBackup(settings.backupFile, config.destinationForUri, config.listAdvice);
    }
    else {
        const newest = [...checks]
            .filter((c) => c.ok)
            .sort((a, b) => b.name.takenAt.getTime() - a.name.takenAt.getTime())[0];
        if (!newest) {
            return {
                backup: "(none)",
                database: "",
                ok: false,
                proof: undefined,
                problems: ["no good backup to restore"],
                dropped: true,
            };
        }
        entry = await findBackup(newest.file, config.destinationForUri, config.listAdvice);
    }
    const checkSql = settings.checkSql !== undefined ? await readCheckSql(settings.checkSql) : undefined;
    const manifest = await readManifest(entry);
    const database = scratchDatabaseName(started);
    const admin = await connectMaintenance(settings.connection, database);
    let created = false;
    let dropped = false;
    let proof;
    const problems = [];
    try {
        const tools = await chooseRestoreTools(admin, config.pgBinDir);
        // The backed-up database's encoding and locale (a SQL_ASCII dump only restores into SQL_ASCII).
        const recorded = recordedDatabaseInfo(manifest);
        await createEmptyDatabase(admin, database, recorded && { ...recorded, owner: undefined });
        created = true;
        logger.info(`Test restore of ${entry.fileName} into the scratch database "${database}"`);
        proof = await restoreAndProve({
            entry,
            expectedSha256: await expectedSha256(entry),
            manifest,
            connection: settings.connection,
            database,
            tools,
            jobs: config.jobs,
            keyring: entry.encrypted ? keyring : undefined,
            signal: options.signal,
            logger,
            checkSql,
            afterRestoreHook: options.afterRestoreHook,
        });
        problems.push(...proof.problems);
    }
    catch (err) {
        if (err instanceof shared_errors/* UserError */.yo && !created)
            throw err;
        (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, `The test restore of ${entry.fileName} was cancelled`);
        problems.push(err.message);
        logger.error(`Test restore of ${entry.fileName} failed: ${err.message}`);
    }
    finally {
        if (created) {
            await dropDatabase(admin, database).then(() => {
                dropped = true;
                logger.info(`Dropped the scratch database "${database}"`);
            }, (err) => logger.error(`Could not drop the scratch database "${database}" (${err.message}): drop it by hand`));
        }
        await admin.end().catch(() => { });
    }
    if (!problems.length)
        logger.info(`Test restore of ${entry.fileName}: proven`);
    return { backup: entry.fileName, database, ok: problems.length === 0, proof, problems, dropped };
}

;// CONCATENATED MODULE: ./src/summary/markdown.ts
/** Escapes text for a Markdown table cell rendered as HTML by GitHub (core.summary does not escape). */
function markdown_cell(text) {
    return String(text)
        .replace(/&/g, "&amp;")
        .replace(/</g, "&lt;")
        .replace(/>/g, "&gt;")
        .replace(/\|/g, "&#124;")
        .replace(/\r?\n/g, " ");
}
/** A Markdown table from a header row and body rows; every cell is escaped. */
function markdown_table(header, rows) {
    const line = (cells) => `| ${cells.map(markdown_cell).join(" | ")} |`;
    return [line(header), `| ${header.map(() => "---").join(" | ")} |`, ...rows.map(line)].join("\n");
}
const markdown_UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
/** 1536 → "1.5 KiB". */
function formatBytes(bytes) {
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < markdown_UNITS.length - 1) {
        value /= 1024;
        unit++;
    }
    return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${markdown_UNITS[unit]}`;
}
/** "3.2 h", "4.1 d": how long ago a backup or snapshot was taken. */
function formatAge(hours) {
    return hours < 48 ? `${hours.toFixed(1)} h` : `${(hours / 24).toFixed(1)} d`;
}
/** 83.2 → "1 min 23.2 s". */
function markdown_formatDuration(seconds) {
    if (seconds < 60)
        return `${seconds.toFixed(1)} s`;
    const minutes = Math.floor(seconds / 60);
    return `${minutes} min ${(seconds - minutes * 60).toFixed(1)} s`;
}

;// CONCATENATED MODULE: ./src/restore/restore-summary.ts

/** The plain data of one listed backup, for --json and the tables. */
function listedBackup(entry, now) {
    return {
        file: entry.fileName,
        uri: entry.uri,
        location: entry.store.location,
        tier: entry.tier ?? null,
        takenAt: entry.takenAt.toISOString(),
        ageHours: Number(((now.getTime() - entry.takenAt.getTime()) / 3_600_000).toFixed(2)),
        sizeBytes: entry.sizeBytes,
        format: entry.format,
        compression: entry.compression,
        encrypted: entry.encrypted,
        sidecar: entry.hasSidecar,
        manifest: entry.hasManifest,
    };
}
const integrity = (e) => `${e.hasSidecar ? "sha256 sidecar" : "NO sidecar"}${e.hasManifest ? ", manifest" : ""}`;
/** The backups as rows: newest first, with tier, size, age, encryption and what can prove them. */
function backupRows(entries, now) {
    return entries.map((e) => [
        e.fileName,
        e.store.location,
        e.tier ?? "—",
        formatBytes(e.sizeBytes),
        formatAge((now.getTime() - e.takenAt.getTime()) / 3_600_000),
        e.encrypted ? "gpg" : "none",
        integrity(e),
    ]);
}
const HEADER = ["Backup", "Where", "Tier", "Size", "Age", "Encryption", "Integrity"];
/** `--list-backups` on a terminal: aligned columns. */
function backupListText(entries, now, where) {
    if (!entries.length)
        return `No backups in ${where}\n`;
    const rows = [HEADER, ...backupRows(entries, now)];
    const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return `${rows
        .map((r) => r
        .map((c, i) => c.padEnd(widths[i]))
        .join("  ")
        .trimEnd())
        .join("\n")}\n`;
}
/** `--list-backups` in the job summary. */
function backupListSummary(entries, now, where) {
    return [
        `## Lifeline backups in ${cell(where)}: ${entries.length}`,
        "",
        entries.length ? table(HEADER, backupRows(entries, now)) : "No backups found.",
        "",
    ].join("\n");
}
/** The comparison of a restored copy with its manifest, mismatches first. */
function comparisonTable(comparison) {
    const rows = [...comparison.rows]
        .sort((a, b) => Number(a.ok) - Number(b.ok))
        .map((r) => [r.ok ? "✅" : "❌", r.kind, r.name, r.expected, r.actual]);
    return [
        markdown_table(["", "Kind", "Name", "Manifest", "Restored"], rows),
        ...(comparison.notes.length ? ["", ...comparison.notes.map((n) => `- ${markdown_cell(n)}`)] : []),
    ].join("\n");
}
/** The job summary of a restore, also when it failed (the live database's state is stated either way). */
function restoreSummary(outcome, database, guidance) {
    const tail = guidance
        ? ["", "### Point-in-time recovery", "", "```text", guidance.trimEnd(), "```", ""]
        : [];
    if ("error" in outcome) {
        return [
            `## ❌ Lifeline restore of ${cell(database)} failed`,
            "",
            `**Cause:** ${cell(outcome.error.message)}`,
            "",
            `The live database was not replaced: a restore only swaps in after it is complete and proven.`,
            ...(outcome.comparison
                ? ["", "### Comparison with the manifest", "", comparisonTable(outcome.comparison)]
                : []),
            ...tail,
            "",
        ].join("\n");
    }
    const r = outcome.result;
    return [
        `## ✅ Lifeline restore: ${cell(r.database)} from ${cell(r.source.fileName)}`,
        "",
        table(["Detail", "Value"], [
            ["Source", r.source.uri],
            ["Taken", r.source.takenAt.toISOString()],
            ["SHA-256", `${r.sha256} (matches the sidecar)`],
            ["Pipeline", r.topology],
            ["Duration", `${formatDuration(r.durationSeconds)} (data ${formatDuration(r.proof.restoreSeconds)})`],
            [
                "Replaced database",
                r.previousDatabase
                    ? `kept as ${r.previousDatabase}`
                    : r.droppedPrevious
                        ? "dropped (drop-old)"
                        : "none existed",
            ],
        ]),
        "",
        ...r.proof.warnings.flatMap((w) => [`> ⚠️ ${cell(w)}`, ""]),
        "### Comparison with the manifest",
        "",
        r.proof.comparison
            ? comparisonTable(r.proof.comparison)
            : "No manifest: only psql's success and the sha256 prove this restore.",
        ...tail,
        "",
    ].join("\n");
}
/** The job summary of a dry run: the plan as printed, and whether the restore would go ahead. */
function restorePlanSummary(database, planText, ok) {
    return [
        `## ${ok ? "🔎" : "❌"} Lifeline restore of ${cell(database)}: dry run, nothing was changed`,
        "",
        ok
            ? "Nothing found that would stop the restore."
            : "**The restore would not go ahead:** see Problems below.",
        "",
        "~~~~text",
        planText.trimEnd(),
        "~~~~",
        "",
    ].join("\n");
}

;// CONCATENATED MODULE: ./src/verify/verify-summary.ts



/** One row per backup checked: where it is, what passed, why it failed. */
function fileChecksTable(checks) {
    if (!checks.length)
        return "No backups found.";
    return markdown_table(["Backup", "Where", "Tier", "Size", "Result", "Checked", "Notes"], checks.map((c) => [
        external_node_path_default().basename(c.file),
        c.file.includes("://")
            ? c.file.slice(0, c.file.length - external_node_path_default().basename(c.file).length)
            : external_node_path_default().dirname(c.file),
        c.name.tier,
        formatBytes(c.sizeBytes),
        c.ok ? "✅ OK" : `❌ ${c.problem}`,
        c.passed.join(", "),
        c.notes.join("; "),
    ]));
}
/** The job summary of a verify run: a row per backup checked, tier ages, and the test restore's comparison. */
function verifyBackupsSummary(report) {
    const icon = report.exitCode === 0 ? "✅" : "❌";
    const lines = [
        `## ${icon} Lifeline verify: ${report.checks.filter((c) => c.ok).length} of ${report.checks.length} backups good, exit ${report.exitCode}`,
        "",
        ...(report.reasons.length ? [report.reasons.map((r) => `- ${markdown_cell(r)}`).join("\n"), ""] : []),
        markdown_table(["Where", "Tier", "Newest good backup", "Age", "Limit", ""], report.ages.map((a) => [
            a.location,
            a.tier,
            a.newest ?? "none",
            a.ageHours === undefined ? "—" : formatAge(a.ageHours),
            `${a.limitHours} h`,
            a.ok ? "✅" : "❌",
        ])),
        "",
        fileChecksTable(report.checks),
        "",
    ];
    const t = report.testRestore;
    if (t) {
        lines.push(`### ${t.ok ? "✅" : "❌"} Test restore of ${markdown_cell(t.backup)}`, "", `Scratch database \`${markdown_cell(t.database)}\`${t.dropped ? ", dropped afterwards" : ""}` +
            (t.proof
                ? `; restored in ${markdown_formatDuration(t.proof.restoreSeconds)} via ${markdown_cell(t.proof.topology)}`
                : ""), "", ...(t.proof?.warnings ?? []).flatMap((w) => [`> ⚠️ ${markdown_cell(w)}`, ""]), ...(t.problems.length ? [t.problems.map((p) => `- ${markdown_cell(p)}`).join("\n"), ""] : []), t.proof?.comparison ? comparisonTable(t.proof.comparison) : "No manifest to compare with.", "");
        if (t.proof?.checks.length) {
            lines.push(markdown_table(["", "SQL check", "Result"], t.proof.checks.map((c) => [c.ok ? "✅" : "❌", c.sql, c.detail])), "");
        }
    }
    return lines.join("\n");
}
/** A verify run's report as `--json` prints it: each check names its tier instead of the parsed name. */
function verifyReportJson(report) {
    const checks = report.checks.map(({ name, ...c }) => ({ ...c, tier: name.tier }));
    return `${JSON.stringify({ ...report, checks }, null, 2)}\n`;
}

;// CONCATENATED MODULE: ./src/cli/args.ts






/**
 * Parses `--<input-name> value` flags for a table of settings (the same kebab-case names as the action
 * inputs; boolean settings are bare switches such as `--encrypt`), plus extra switches of the command.
 */
function parseFlags(argv, settings, extraSwitches) {
    const options = {};
    for (const spec of Object.values(settings)) {
        options[spec.input] = { type: spec.parse === parseBoolean ? "boolean" : "string" };
    }
    for (const name of extraSwitches)
        options[name] = { type: "boolean" };
    let values;
    try {
        ({ values } = (0,external_node_util_.parseArgs)({ args: [...argv], options, strict: true, allowPositionals: false }));
    }
    catch (err) {
        // parseArgs quotes a stray argument, and a stray argument is often a value a switch cannot take
        // (`--test-restore postgresql://user:password@...`): it is named by position, never shown.
        if (err.code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
            const position = argv.findIndex((a) => !a.startsWith("-") && !isFlagValue(argv, a, options)) + 1;
            throw new shared_errors/* UsageError */.eb(`Argument ${position || "?"} is not a flag, and this command takes no other arguments (it is not shown: it may hold a secret). ` +
                "A switch such as --test-restore or --dry-run takes no value; run with --help for the accepted flags");
        }
        throw new shared_errors/* UsageError */.eb(`${err.message}. Run with --help for the accepted flags`, { cause: err });
    }
    const lookup = withNames(COMMAND_LINE_NAMES, (spec) => {
        const value = values[spec.input];
        if (value === undefined || value === "")
            return undefined;
        return { value: String(value), source: COMMAND_LINE_NAMES.name(spec) };
    });
    const switches = {};
    for (const name of extraSwitches)
        switches[name] = values[name] === true;
    return { lookup, switches };
}
/**
 * The start every command shares: its flags parsed, --help answered (then undefined is returned), the
 * settings looked up flag first then environment, every secret masked before anything can be quoted
 * (a malformed URL's error must not carry its password), and the failed run's metrics destination
 * refined by the flags.
 */
function startCommand(argv, command, io) {
    const { lookup: flags, switches } = parseFlags(argv, command.settings, [...command.switches, "help"]);
    if (switches.help) {
        io.out.write(command.help);
        return undefined;
    }
    const lookup = firstOf(flags, environmentLookup(io.env ?? process.env));
    maskSecrets(lookup, flags, io.logger);
    if (io.record)
        io.record.settings = metricsDestination(lookup);
    return { lookup, switches };
}
/** Help text lines for a table of settings: flag, environment variable, default, description. */
function settingsHelp(settings) {
    return Object.values(settings)
        .map((spec) => {
        const flag = spec.parse === parseBoolean ? `--${spec.input}` : `--${spec.input} <value>`;
        const dflt = spec.default !== undefined ? ` (default: ${spec.default})` : "";
        return `  ${flag.padEnd(30)} ${spec.env}: ${spec.description}${dflt}`;
    })
        .join("\n");
}
/**
 * Registers every secret the settings carry with the logger before anything can be quoted, and warns
 * when one came on the command line: argv is readable by every user of the host (ps, /proc/<pid>/cmdline).
 */
function maskSecrets(lookup, flags, logger) {
    for (const secret of credentialsIn(lookup))
        logger.addSecret(secret);
    const onArgv = ["database-url", "pushgateway-url", "gpg-private-key"].filter((input) => credentialsIn(flagOnly(flags, input), {}).length > 0);
    for (const input of onArgv) {
        logger.warn(`--${input} puts a secret on Lifeline's command line, which other users of this host can read (ps): ` +
            (input === "gpg-private-key"
                ? "give it in the environment variable BACKUP_GPG_PRIVATE_KEY instead"
                : `give it in the environment variable ${input === "database-url" ? "DATABASE_URL" : "PUSHGATEWAY_URL"} instead` +
                    (input === "database-url"
                        ? ", or leave the password out of the URL and keep it in a PGPASSFILE (~/.pgpass)"
                        : "")));
    }
}
/** A lookup answering only the flag `input`, so that credentialsIn judges that one flag alone. */
function flagOnly(flags, input) {
    return (spec) => (spec.input === input ? flags(spec) : undefined);
}
/** Whether `arg` is the value of the flag before it (a string option), not a stray argument. */
function isFlagValue(argv, arg, options) {
    const before = argv[argv.indexOf(arg) - 1];
    return (before?.startsWith("--") === true && !before.includes("=") && options[before.slice(2)]?.type === "string");
}

;// CONCATENATED MODULE: ./src/cli/backup-db-command.ts







const BACKUP_DB_HELP = `Usage: lifeline backup-db [options]

Takes a PostgreSQL backup into BACKUP_DIR/daily (runbook: backup_db.sh): pg_dump → compression →
optional GPG → file in one streamed pass, with a .sha256 sidecar and a .manifest.json; files it as
weekly/monthly when due; applies retention. With --verify-only, verifies the backups in BACKUP_DIR
instead, as \`lifeline verify\` does: the same checks, age rules, metrics and summary; no buckets, no
test restore.
Every option can also be given by its environment variable; a flag wins over the variable.

Options:
${settingsHelp(BACKUP_DB_SETTINGS)}
  --json                         print the result as JSON on stdout
  --help                         show this help

Exit status: 0 backup written (verify-only: all good); 1 failed, or written locally but an off-site
copy failed (verify-only: a backup failed verification); 2 verify-only: newest backup too old or none;
${COMMON_EXIT_HELP}
`;
const BACKUP_DB_COMMAND = { settings: BACKUP_DB_SETTINGS, switches: ["json"], help: BACKUP_DB_HELP };
/** `lifeline backup-db`: returns the exit code. */
const backupDbCommand = async (argv, logger, signal, out, record) => {
    const started = startCommand(argv, BACKUP_DB_COMMAND, { logger, out, record });
    if (!started)
        return 0;
    const { lookup, switches } = started;
    if (isVerifyOnly(lookup)) {
        record.kind = "verify"; // --verify-only is verify scoped to BACKUP_DIR: verify's metrics, failed or not
        const config = loadVerifyOnlyConfig(lookup);
        const metrics = metricsSettings(lookup);
        const report = await verifyLocalBackups(config.backupDir, { ...config, metrics, logger, signal });
        for (const reason of report.reasons)
            logger.error(reason);
        out.write(switches.json ? verifyReportJson(report) : verifyBackupsSummary(report));
        return report.exitCode;
    }
    const result = await backupDatabase(loadBackupDbConfig(lookup), { logger, signal });
    if (switches.json) {
        const { server: _s, pgDump: _p, manifest: _m, ...brief } = result;
        // Retention decisions carry their catalog entries, and those their store (an SDK client): named by location.
        const json = JSON.stringify(brief, (key, value) => key === "store" && typeof value === "object" && value !== null && "location" in value
            ? value.location
            : value, 2);
        out.write(`${json}\n`);
    }
    else {
        out.write(`${result.file}\n`);
    }
    const failed = result.offsite.filter((o) => !o.ok);
    for (const o of failed) {
        logger.error(`The backup is in ${result.file}, but its off-site copy to ${o.location} failed: ${o.error ?? "unknown error"}`);
    }
    return failed.length > 0 ? 1 : 0;
};

;// CONCATENATED MODULE: ./src/log/progress.ts
/**
 * A line on a terminal redrawn at most once a second; nothing at all when `stream` is not a TTY (logs
 * and pipes stay clean).
 */
function terminalProgress(stream) {
    let shown = false;
    let last = 0;
    return {
        update(text) {
            if (!stream.isTTY || Date.now() - last < 1000)
                return;
            last = Date.now();
            const width = Math.max(20, (stream.columns ?? 100) - 1);
            stream.write(`\r\x1b[2K${text.slice(0, width)}`);
            shown = true;
        },
        done() {
            if (shown)
                stream.write("\r\x1b[2K");
            shown = false;
        },
    };
}
/** One log line every `everyMs` (a minute in an action's log), the first after `everyMs`. */
function periodicLog(logger, everyMs = 60_000) {
    let last = Date.now();
    return {
        update(text) {
            if (Date.now() - last < everyMs)
                return;
            last = Date.now();
            logger.info(`Progress: ${text}`);
        },
        done() { },
    };
}
/** "1:05" or "1:02:03". */
function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = String(s % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

;// CONCATENATED MODULE: ./src/fs/remove-tree.ts


/**
 * Removes a directory tree. A tree copied from read-only directories (mode 0555) cannot be emptied by
 * its non-root owner: then every directory of it is made writable (u+rwx) and the removal retried, so
 * a snapshot of such a tree can still be removed by retention as the runner's user.
 */
function removeTree(dir) {
    try {
        (0,external_node_fs_.rmSync)(dir, { recursive: true, force: true });
        return;
    }
    catch (err) {
        const code = err.code;
        if (code !== "EACCES" && code !== "EPERM")
            throw err;
    }
    makeWritable(dir);
    (0,external_node_fs_.rmSync)(dir, { recursive: true, force: true });
}
function makeWritable(dir) {
    const st = (0,external_node_fs_.lstatSync)(dir);
    if (!st.isDirectory())
        return;
    (0,external_node_fs_.chmodSync)(dir, (st.mode & 0o7777) | 0o700);
    for (const entry of (0,external_node_fs_.readdirSync)(dir, { withFileTypes: true })) {
        if (entry.isDirectory())
            makeWritable(external_node_path_default().join(dir, entry.name));
    }
}

;// CONCATENATED MODULE: ./src/media/media-path.ts

/** The bytes of a real path (a directory given by the operator, as UTF-8) as a binary string. */
function toBinary(text) {
    return Buffer.from(text, "utf8").toString("latin1");
}
/** The real path of `rel` under `root` (a binary string too), as the Buffer fs calls take. */
function fsPath(root, rel) {
    return Buffer.from(rel === "" ? root : `${root}/${rel}`, "latin1");
}
/** `parent/name`, or `name` under the root. */
function joinRel(parent, name) {
    return parent === "" ? name : `${parent}/${name}`;
}
/** The directory that holds `rel` ("" for a child of the root). */
function parentOf(rel) {
    const slash = rel.lastIndexOf("/");
    return slash < 0 ? "" : rel.slice(0, slash);
}
/** Whether `rel` is `dir` or lies under it. */
function isWithin(rel, dir) {
    return dir === "" || rel === dir || rel.startsWith(`${dir}/`);
}
const SLASH = 0x2f;
/**
 * The walk order: names compared byte by byte, component by component, so a directory comes right
 * before its children and "a/z" before "a b". That is byte order with "/" below every other byte.
 */
function compareRelPaths(a, b) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        const x = a.charCodeAt(i);
        const y = b.charCodeAt(i);
        if (x === y)
            continue;
        if (x === SLASH)
            return -1;
        if (y === SLASH)
            return 1;
        return x - y;
    }
    return a.length - b.length;
}
/** Why `rel` cannot be a path inside a tree, or undefined when it can: what a tampered manifest would try. */
function relPathProblem(rel) {
    if (rel === "")
        return "it is empty";
    if (rel.includes("\0"))
        return "it contains a NUL byte";
    if (rel.startsWith("/"))
        return "it is absolute";
    for (const part of rel.split("/")) {
        if (part === "")
            return "it has an empty component (a leading, trailing or double '/')";
        if (part === "." || part === "..")
            return `it has a '${part}' component`;
    }
    return undefined;
}
/** Whether the bytes are valid UTF-8, so a name can be written as text rather than base64. */
function isUtf8(rel) {
    const bytes = Buffer.from(rel, "latin1");
    return Buffer.from(bytes.toString("utf8"), "utf8").equals(bytes);
}
/** A path for people: UTF-8 as is, other bytes as \xNN (never a raw control char in a log line). */
function showPath(rel) {
    const text = isUtf8(rel)
        ? Buffer.from(rel, "latin1").toString("utf8")
        : [...rel].map((c) => (c.charCodeAt(0) < 0x80 ? c : `\\x${c.charCodeAt(0).toString(16)}`)).join("");
    return showControls(text === "" ? "." : text)
        .replace(/\n/g, "\\n")
        .replace(/\t/g, "\\t");
}
/**
 * An fs error for a log line or manifest: its code and words ("EACCES: permission denied"), without the
 * path Node appends (a /proc/self/fd path, or raw bytes that could forge a line), control chars escaped.
 */
function showError(err) {
    const message = err instanceof Error ? err.message : String(err);
    const code = err?.code;
    const words = code && message.startsWith(`${code}:`) ? message.replace(/, \w+ '[\s\S]*$/, "") : message;
    return showControls(words).replace(/\n/g, "\\n").replace(/\t/g, "\\t");
}

;// CONCATENATED MODULE: ./src/media/manifest.ts




const MANIFEST_FORMAT = "lifeline-media-manifest";
const manifest_MANIFEST_VERSION = 1;
/** A line longer than this is not one a snapshot writes (two 4 KiB paths in base64 fit many times). */
const MAX_MANIFEST_LINE_BYTES = 1024 * 1024;
const WRITE_BUFFER_BYTES = 1024 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;
const ENTRY_TYPES = [
    "dir",
    "file",
    "symlink",
    "fifo",
    "socket",
    "char-device",
    "block-device",
];
/** skipped: a socket, FIFO or device (never copied); unreadable: named, not in the tree; changed-during-backup: copied twice, changed both times. */
const ENTRY_STATES = ["skipped", "unreadable", "changed-during-backup"];
const TOTAL_KEYS = [
    "entries",
    "files",
    "dirs",
    "symlinks",
    "bytes",
    "newFiles",
    "changedFiles",
    "unchangedFiles",
    "deletedFiles",
    "bytesCopied",
    "bytesLinked",
    "errors",
    "skipped",
    "changedDuringBackup",
];
/** A manifest that cannot be trusted: names the file, the line and what was wrong. */
class ManifestError extends shared_errors/* UserError */.yo {
    name = "ManifestError";
}
function pathField(key, rel) {
    if (key === "path" && rel === "")
        return { path: "." };
    return isUtf8(rel)
        ? { [key]: Buffer.from(rel, "latin1").toString("utf8") }
        : { [`${key}B64`]: Buffer.from(rel, "latin1").toString("base64") };
}
/** One entry as its manifest line (without the newline). */
function encodeEntry(e) {
    return JSON.stringify({
        ...pathField("path", e.path),
        type: e.type,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        size: e.size,
        mtimeNs: e.mtimeNs.toString(),
        ctimeNs: e.ctimeNs.toString(),
        ino: e.ino.toString(),
        ...(e.sha256 === undefined ? {} : { sha256: e.sha256 }),
        ...(e.target === undefined ? {} : pathField("target", e.target)),
        ...(e.linkTo === undefined ? {} : pathField("linkTo", e.linkTo)),
        ...(e.state === undefined ? {} : { state: e.state }),
        ...(e.error === undefined ? {} : { error: e.error }),
    });
}
/** Writes a manifest as the snapshot is built, in buffered sync writes, hashing what it writes. */
class ManifestWriter {
    fd;
    file;
    hash = (0,external_node_crypto_.createHash)("sha256");
    buffered = [];
    bufferedBytes = 0;
    bytes = 0;
    constructor(fd, file) {
        this.fd = fd;
        this.file = file;
    }
    static create(file, header) {
        const fd = (0,external_node_fs_.openSync)(file, external_node_fs_.constants.O_WRONLY | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_EXCL, 0o600);
        const writer = new ManifestWriter(fd, file);
        writer.line(JSON.stringify(header));
        return writer;
    }
    add(entry) {
        this.line(encodeEntry(entry));
    }
    /** Writes the totals, flushes and fsyncs; returns the manifest's SHA-256 and size. */
    finish(totals) {
        this.line(JSON.stringify({ totals }));
        this.flush();
        (0,external_node_fs_.fsyncSync)(this.fd);
        (0,external_node_fs_.closeSync)(this.fd);
        return { sha256: this.hash.digest("hex"), bytes: this.bytes };
    }
    /** Closes without finishing (a failed run: the partial snapshot is removed). */
    abandon() {
        try {
            (0,external_node_fs_.closeSync)(this.fd);
        }
        catch { }
    }
    line(text) {
        this.buffered.push(text, "\n");
        this.bufferedBytes += text.length + 1;
        if (this.bufferedBytes >= WRITE_BUFFER_BYTES)
            this.flush();
    }
    flush() {
        if (this.buffered.length === 0)
            return;
        const chunk = Buffer.from(this.buffered.join(""), "utf8");
        this.buffered = [];
        this.bufferedBytes = 0;
        this.hash.update(chunk);
        let off = 0;
        while (off < chunk.length)
            off += (0,external_node_fs_.writeSync)(this.fd, chunk, off, chunk.length - off);
        this.bytes += chunk.length;
    }
}
/**
 * Reads a manifest line by line in bounded memory, refusing anything a snapshot does not write:
 * unsafe paths, entries out of walk order or outside a directory listed before them, unknown types.
 * A tampered manifest fails here, before a restore writes or a backup links anything from it.
 */
class ManifestReader {
    fd;
    file;
    header;
    hash = (0,external_node_crypto_.createHash)("sha256");
    chunk = Buffer.alloc(0);
    offset = 0;
    eof = false;
    lineNo = 0;
    previous;
    dirs = [];
    done = false;
    totalsRead;
    constructor(fd, file) {
        this.fd = fd;
        this.file = file;
        const first = this.nextLine();
        if (first === undefined)
            throw this.fail("it is empty");
        this.header = this.parseHeader(first);
    }
    static open(file) {
        const fd = (0,external_node_fs_.openSync)(file, external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK);
        try {
            if (!(0,external_node_fs_.fstatSync)(fd).isFile())
                throw new ManifestError(`${file} is not a regular file`);
            return new ManifestReader(fd, file);
        }
        catch (err) {
            (0,external_node_fs_.closeSync)(fd);
            throw err;
        }
    }
    /** The next entry, or undefined after the last (then `totals` and `sha256` are known). */
    next() {
        if (this.done)
            return undefined;
        const line = this.nextLine();
        if (line === undefined)
            throw this.fail("it ends without its totals line (the manifest is cut short)");
        const obj = this.parseJson(line);
        if ("totals" in obj) {
            this.totalsRead = this.parseTotals(obj.totals);
            if (this.nextLine() !== undefined)
                throw this.fail("there are lines after the totals");
            this.done = true;
            return undefined;
        }
        const entry = this.parseEntry(obj);
        this.checkPlace(entry);
        return entry;
    }
    /** The trailer's totals; only after `next()` returned undefined. */
    get totals() {
        if (!this.totalsRead)
            throw new Error("ManifestReader.totals read before the end");
        return this.totalsRead;
    }
    /** The SHA-256 of every byte read; the whole manifest's once `next()` returned undefined. */
    digest() {
        return this.hash.digest("hex");
    }
    close() {
        try {
            (0,external_node_fs_.closeSync)(this.fd);
        }
        catch { }
    }
    fail(what) {
        const where = this.lineNo > 0 ? ` line ${this.lineNo}` : "";
        return new ManifestError(`Manifest ${this.file}${where} cannot be trusted: ${what}. The snapshot may have been tampered with or ` +
            "cut short; verify it (lifeline verify --media) and use another snapshot");
    }
    nextLine() {
        for (;;) {
            const nl = this.chunk.indexOf(0x0a, this.offset);
            if (nl >= 0) {
                const line = this.chunk.subarray(this.offset, nl);
                this.offset = nl + 1;
                this.lineNo++;
                return line.toString("utf8");
            }
            if (this.chunk.length - this.offset > MAX_MANIFEST_LINE_BYTES) {
                this.lineNo++;
                throw this.fail(`a line is longer than ${MAX_MANIFEST_LINE_BYTES} bytes`);
            }
            if (this.eof) {
                if (this.offset < this.chunk.length) {
                    this.lineNo++;
                    throw this.fail("its last line has no newline (the manifest is cut short)");
                }
                return undefined;
            }
            const rest = this.chunk.subarray(this.offset);
            const buf = Buffer.allocUnsafe(rest.length + READ_CHUNK_BYTES);
            rest.copy(buf);
            const n = (0,external_node_fs_.readSync)(this.fd, buf, rest.length, READ_CHUNK_BYTES, null);
            if (n === 0)
                this.eof = true;
            else
                this.hash.update(buf.subarray(rest.length, rest.length + n));
            this.chunk = buf.subarray(0, rest.length + n);
            this.offset = 0;
        }
    }
    parseJson(line) {
        let value;
        try {
            value = JSON.parse(line);
        }
        catch {
            throw this.fail("a line is not JSON");
        }
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
            throw this.fail("a line is not a JSON object");
        }
        return value;
    }
    parseHeader(line) {
        const h = this.parseJson(line);
        if (h.format !== MANIFEST_FORMAT)
            throw this.fail(`its first line is not a ${MANIFEST_FORMAT} header`);
        if (h.version !== manifest_MANIFEST_VERSION) {
            throw this.fail(`it is version ${String(h.version)}; this Lifeline reads version ${manifest_MANIFEST_VERSION}`);
        }
        for (const key of ["snapshot", "source", "createdAt", "tool"]) {
            if (typeof h[key] !== "string")
                throw this.fail(`its header has no '${key}'`);
        }
        if (h.mode !== "incremental" && h.mode !== "full")
            throw this.fail("its header has no valid 'mode'");
        if (h.previous !== null && typeof h.previous !== "string")
            throw this.fail("its header's 'previous' is invalid");
        return h;
    }
    parseTotals(value) {
        if (typeof value !== "object" || value === null)
            throw this.fail("its totals are not an object");
        const t = value;
        for (const key of TOTAL_KEYS) {
            if (!Number.isSafeInteger(t[key]) || t[key] < 0)
                throw this.fail(`its totals' '${key}' is invalid`);
        }
        return t;
    }
    pathOf(obj, key) {
        const text = obj[key];
        const b64 = obj[`${key}B64`];
        if (typeof text === "string")
            return Buffer.from(text, "utf8").toString("latin1");
        if (typeof b64 === "string") {
            const bytes = Buffer.from(b64, "base64");
            // Canonical only: one spelling per name, so two entries cannot be the same bytes in disguise.
            if (bytes.toString("base64") !== b64)
                throw this.fail(`'${key}B64' is not canonical base64`);
            return bytes.toString("latin1");
        }
        if (text !== undefined || b64 !== undefined)
            throw this.fail(`'${key}' is not a string`);
        return undefined;
    }
    integer(obj, key) {
        const v = obj[key];
        if (!Number.isSafeInteger(v) || v < 0)
            throw this.fail(`'${key}' is not a non-negative integer`);
        return v;
    }
    bigint(obj, key) {
        const v = obj[key];
        if (typeof v !== "string" || !/^-?\d{1,25}$/.test(v))
            throw this.fail(`'${key}' is not an integer string`);
        return BigInt(v);
    }
    parseEntry(obj) {
        const raw = this.pathOf(obj, "path");
        if (raw === undefined)
            throw this.fail("an entry has no 'path'");
        const path = raw === "." ? "" : raw;
        if (path !== "") {
            const problem = relPathProblem(path);
            if (problem)
                throw this.fail(`the path '${showPath(path)}' is unsafe: ${problem}`);
        }
        const type = obj.type;
        if (!ENTRY_TYPES.includes(type))
            throw this.fail(`'${showPath(path)}' has an unknown type`);
        const state = obj.state;
        if (state !== undefined && !ENTRY_STATES.includes(state))
            throw this.fail(`'${showPath(path)}' has an unknown state`);
        const mode = this.integer(obj, "mode");
        if (mode > 0o7777)
            throw this.fail(`'${showPath(path)}' has an invalid mode`);
        const sha256 = obj.sha256;
        if (sha256 !== undefined && (typeof sha256 !== "string" || !/^[0-9a-f]{64}$/.test(sha256))) {
            throw this.fail(`'${showPath(path)}' has an invalid sha256`);
        }
        const stored = type === "file" && state !== "unreadable";
        if (stored && sha256 === undefined)
            throw this.fail(`the file '${showPath(path)}' has no sha256`);
        const target = this.pathOf(obj, "target");
        if (type === "symlink" && (target === undefined || target === "" || target.includes("\0"))) {
            throw this.fail(`the symlink '${showPath(path)}' has no valid target`);
        }
        const linkTo = this.pathOf(obj, "linkTo");
        if (linkTo !== undefined) {
            const problem = relPathProblem(linkTo);
            if (type !== "file" || problem || compareRelPaths(linkTo, path) >= 0) {
                throw this.fail(`'${showPath(path)}' has a linkTo that is not an earlier file of the snapshot`);
            }
        }
        const error = obj.error;
        if (error !== undefined && typeof error !== "string")
            throw this.fail(`'${showPath(path)}' has an invalid error`);
        return {
            path,
            type,
            mode,
            uid: this.integer(obj, "uid"),
            gid: this.integer(obj, "gid"),
            size: this.integer(obj, "size"),
            mtimeNs: this.bigint(obj, "mtimeNs"),
            ctimeNs: this.bigint(obj, "ctimeNs"),
            ino: this.bigint(obj, "ino"),
            ...(sha256 === undefined ? {} : { sha256: sha256 }),
            ...(type === "symlink" ? { target } : {}),
            ...(linkTo === undefined ? {} : { linkTo }),
            ...(state === undefined ? {} : { state }),
            ...(error === undefined ? {} : { error: error }),
        };
    }
    /** Walk order, and every entry inside a directory listed before it: the root first, as a directory. */
    checkPlace(entry) {
        if (this.previous === undefined) {
            if (entry.path !== "" || entry.type !== "dir")
                throw this.fail("its first entry is not the root directory");
        }
        else {
            if (compareRelPaths(this.previous, entry.path) >= 0) {
                throw this.fail(`'${showPath(entry.path)}' is out of order or listed twice`);
            }
            const parent = parentOf(entry.path);
            while (this.dirs.length > 0 && this.dirs[this.dirs.length - 1] !== parent)
                this.dirs.pop();
            if (this.dirs.length === 0) {
                throw this.fail(`'${showPath(entry.path)}' is not inside a directory listed before it`);
            }
        }
        if (entry.type === "dir")
            this.dirs.push(entry.path);
        this.previous = entry.path;
    }
}

;// CONCATENATED MODULE: ./src/media/snapshot-name.ts

/** Every snapshot directory is `media_YYYYMMDD_HHMMSS` (its UTC start time), like the database backups. */
const SNAPSHOT_PREFIX = "media_";
/** The link that names the newest complete snapshot (runbook: `ls -ld /backups/media/current`). */
const CURRENT_LINK = "current";
/** Inside a snapshot: the tree (restore with `cp -a`), its manifest and the manifest's checksum. */
const TREE_DIR = "tree";
const MANIFEST_FILE = "manifest.ndjson";
const MANIFEST_SUM_FILE = "manifest.ndjson.sha256";
const NAME = /^media_(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/;
const PARTIAL = /^\.media_\d{8}_\d{6}\.partial$/;
const DELETING = /^\.media_\d{8}_\d{6}\.deleting$/;
/** The snapshot name of a run started at `at`. */
function snapshotName(at) {
    return `${SNAPSHOT_PREFIX}${formatTimestamp(at)}`;
}
/** The time a snapshot name says, or undefined when the name is not a snapshot's (or no real time). */
function snapshotTime(name) {
    const m = NAME.exec(name);
    if (!m)
        return undefined;
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
    const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    // Date.UTC reads years 0-99 as 1900-1999: such a name is no time a snapshot was taken.
    if (at.getUTCFullYear() !== y ||
        at.getUTCMonth() !== mo - 1 ||
        at.getUTCDate() !== d ||
        h > 23 ||
        mi > 59 ||
        s > 59)
        return undefined;
    return at;
}
/** Where a run builds its snapshot before it is complete. */
const partialName = (name) => `.${name}.partial`;
/** What retention renames a snapshot to before removing it, so it leaves the listing at once. */
const deletingName = (name) => `.${name}.deleting`;
/** Whether a name in MEDIA_BACKUP_DIR is a dead run's partial snapshot or an interrupted deletion. */
function isLeftover(name) {
    return PARTIAL.test(name) || DELETING.test(name);
}

;// CONCATENATED MODULE: ./src/media/remote-layout.ts


/**
 * Where media snapshots live in a bucket, under the media prefix (MEDIA_REMOTE_PREFIX):
 *
 *   data/<sha256>            a large file's content, named by its SHA-256 (written once, never overwritten)
 *   data/pack-<id>           small files' contents one after another; <id> is the SHA-256 of its member list
 *   snapshots/<snapshot>.manifest.ndjson   the local snapshot's manifest, byte for byte
 *   snapshots/<snapshot>.index.ndjson      where each content of the snapshot is: object, offset, length
 *   snapshots/<snapshot>.objects           the data objects the snapshot uses, with their stored sizes
 *   snapshots/<snapshot>.sha256            sha256sum of the three above: written last, it makes the snapshot exist
 *   snapshots/gc-pending-<time>.txt        data objects found unreferenced, and since when (garbage collection)
 *
 * With BACKUP_ENCRYPT every data object, manifest and index is a gpg message (`.gpg` appended), and a
 * data object's name carries the recipient key (`<sha256>.<key>.gpg`, <key> the first 16 hex digits of
 * its fingerprint): content encrypted to one key is never reused by a run encrypting to another, nor by
 * a run that does not encrypt. The `.objects` and `.sha256` files stay readable so that retention and
 * garbage collection need no key.
 */
const DATA_PREFIX = "data/";
const SNAPSHOTS_PREFIX = "snapshots/";
const GPG_SUFFIX = ".gpg";
const PACK_PREFIX = "pack-";
/** The parts of a remote snapshot, in the order they are written (the sums last). */
const SNAPSHOT_PARTS = ["manifest", "index", "objects", "sums"];
const PART_SUFFIX = {
    manifest: ".manifest.ndjson",
    index: ".index.ndjson",
    objects: ".objects",
    sums: ".sha256",
};
/** Parts that are encrypted when the snapshot is. */
const SEALED_PARTS = new Set(["manifest", "index"]);
/** The object name of one part of a remote snapshot (under snapshots/). */
function partName(snapshot, part, encrypted) {
    return `${snapshot}${PART_SUFFIX[part]}${encrypted && SEALED_PARTS.has(part) ? GPG_SUFFIX : ""}`;
}
/** Which snapshot and part an object name under snapshots/ is, or undefined (not one Lifeline writes). */
function parsePartName(name) {
    const m = /^(media_\d{8}_\d{6})(\.manifest\.ndjson|\.index\.ndjson|\.objects|\.sha256)(\.gpg)?$/.exec(name);
    if (!m || !snapshotTime(m[1]))
        return undefined;
    const part = SNAPSHOT_PARTS.find((p) => PART_SUFFIX[p] === m[2]);
    const encrypted = m[3] !== undefined;
    if (encrypted && !SEALED_PARTS.has(part))
        return undefined;
    return { snapshot: m[1], part, encrypted };
}
/** The recipient key as data object names carry it: the first 16 hex digits of its fingerprint, lower case. */
function sealKeyOf(fingerprint) {
    const key = fingerprint.toLowerCase().slice(0, 16);
    if (!/^[0-9a-f]{16}$/.test(key))
        throw new TypeError(`sealKeyOf: '${fingerprint}' is not a key fingerprint`);
    return key;
}
const sealed = (key) => (key === undefined ? "" : `.${key}${GPG_SUFFIX}`);
/** The data object of one large file's content; `key`: encrypted to that recipient. */
const blobName = (sha256, key) => `${sha256}${sealed(key)}`;
/** A pack's name from its members (and key): the same files in the same order always make the same pack. */
function packName(members, key) {
    const h = (0,external_node_crypto_.createHash)("sha256").update(`lifeline-media-pack-v1 ${key ?? "plain"}\n`);
    for (const m of members)
        h.update(`${m.sha256} ${m.size}\n`);
    return `${PACK_PREFIX}${h.digest("hex")}${sealed(key)}`;
}
const DATA_NAME = /^(pack-)?[0-9a-f]{64}(?:\.([0-9a-f]{16})\.gpg)?$/;
/** Whether a name under data/ is one Lifeline writes: a content hash or a pack, plain or `.<key>.gpg`. */
function isDataName(name) {
    return DATA_NAME.test(name);
}
/** The recipient key a data object was encrypted to, or undefined for a plain one. */
function sealKeyOfName(name) {
    return DATA_NAME.exec(name)?.[2];
}
const isEncryptedName = (name) => name.endsWith(GPG_SUFFIX);

;// CONCATENATED MODULE: ./src/media/remote-index.ts


const INDEX_FORMAT = "lifeline-media-index";
const OBJECTS_FORMAT = "lifeline-media-objects";
/** An index or objects file larger than this is not one Lifeline wrote (and would not fit a string). */
const MAX_INDEX_BYTES = 256 << 20;
/** A manifest larger than this (as stored, or decrypted) is not one Lifeline wrote: it is never staged whole. */
const remote_index_MAX_MANIFEST_BYTES = 2 ** 31;
/** A remote index, or its objects file, that cannot be trusted: names it and what was wrong. */
class RemoteIndexError extends shared_errors/* UserError */.yo {
    name = "RemoteIndexError";
}
const SHA256 = /^[0-9a-f]{64}$/;
function natural(value) {
    return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
/**
 * What a bucket holds for one snapshot: each content (by SHA-256) and where it is, and each data object
 * with its stored size. Built as a snapshot is uploaded; read back for restore, verify and the next
 * run's deduplication.
 */
class ContentIndex {
    contents = new Map();
    objectBytes = new Map();
    get size() {
        return this.contents.size;
    }
    has(sha256) {
        return this.contents.has(sha256);
    }
    get(sha256) {
        return this.contents.get(sha256);
    }
    /** Stored bytes of a data object, as written (the gpg message, when encrypted). */
    objectSize(name) {
        return this.objectBytes.get(name);
    }
    addObject(name, bytes) {
        this.objectBytes.set(name, bytes);
    }
    add(sha256, location) {
        if (!this.contents.has(sha256))
            this.contents.set(sha256, location);
    }
    /** Every data object, with its stored size, sorted by name. */
    objects() {
        return [...this.objectBytes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
    entries() {
        return this.contents.entries();
    }
    /** The index as written to the bucket: a header line, the objects, then the contents. */
    encode(snapshot) {
        const lines = [JSON.stringify({ format: INDEX_FORMAT, version: 1, snapshot })];
        for (const [object, bytes] of this.objects())
            lines.push(JSON.stringify({ object, bytes }));
        for (const [sha256, l] of this.contents) {
            lines.push(JSON.stringify({ sha256, object: l.object, offset: l.offset, length: l.length }));
        }
        return `${lines.join("\n")}\n`;
    }
    /**
     * Parses an index as `encode` writes it. Everything is checked: names of data objects, hashes,
     * offsets within the object's recorded size; `where` names the object in errors.
     */
    static parse(text, where, snapshot) {
        const index = new ContentIndex();
        const bad = (line, why) => new RemoteIndexError(`The index ${where} is not valid at line ${line}: ${why}. It was changed or damaged; use another snapshot, or run verify`);
        const lines = text.split("\n");
        if (lines.at(-1) !== "")
            throw bad(lines.length, "it does not end with a newline (cut short?)");
        lines.pop();
        lines.forEach((raw, i) => {
            let v;
            try {
                v = JSON.parse(raw);
            }
            catch {
                throw bad(i + 1, "not JSON");
            }
            if (typeof v !== "object" || v === null || Array.isArray(v))
                throw bad(i + 1, "not an object");
            if (i === 0) {
                if (v.format !== INDEX_FORMAT || v.version !== 1)
                    throw bad(1, `not a ${INDEX_FORMAT} version 1`);
                if (snapshot !== undefined && v.snapshot !== snapshot)
                    throw bad(1, `it is the index of ${typeof v.snapshot === "string" ? v.snapshot : "no snapshot"}, not of ${snapshot}`);
                return;
            }
            if (typeof v.object !== "string" || !isDataName(v.object))
                throw bad(i + 1, "no valid data object name");
            if (v.sha256 === undefined) {
                if (!natural(v.bytes))
                    throw bad(i + 1, "no valid object size");
                if (index.objectBytes.has(v.object))
                    throw bad(i + 1, `${v.object} is listed twice`);
                index.objectBytes.set(v.object, v.bytes);
                return;
            }
            if (typeof v.sha256 !== "string" || !SHA256.test(v.sha256))
                throw bad(i + 1, "no valid sha256");
            if (!natural(v.offset) || !natural(v.length))
                throw bad(i + 1, "no valid offset and length");
            const objectBytes = index.objectBytes.get(v.object);
            if (objectBytes === undefined)
                throw bad(i + 1, `${v.object} is not among the index's objects`);
            // A gpg message's size is not its plaintext's; for a plain object the content must lie inside it.
            if (!isEncryptedName(v.object) && v.offset + v.length > objectBytes)
                throw bad(i + 1, `bytes ${v.offset}+${v.length} lie beyond the end of ${v.object} (${objectBytes} bytes)`);
            if (index.contents.has(v.sha256))
                throw bad(i + 1, `${v.sha256} is listed twice`);
            index.contents.set(v.sha256, { object: v.object, offset: v.offset, length: v.length });
        });
        if (lines.length === 0)
            throw bad(1, "it is empty");
        return index;
    }
}
function encodeObjectsFile(f) {
    const lines = [
        `# ${OBJECTS_FORMAT} 1`,
        `# snapshot ${f.snapshot}`,
        `# index-sha256 ${f.indexSha256}`,
        `# errors ${f.errors}`,
    ];
    for (const [name, bytes] of [...f.objects].sort(([a], [b]) => (a < b ? -1 : 1)))
        lines.push(`${name} ${bytes}`);
    return `${lines.join("\n")}\n`;
}
function parseObjectsFile(text, where, snapshot) {
    const bad = (why) => new RemoteIndexError(`The objects list ${where} is not valid: ${why}. It was changed or damaged; run verify, and do not delete data by hand`);
    const lines = text.split("\n");
    if (lines.at(-1) !== "")
        throw bad("it does not end with a newline (cut short?)");
    lines.pop();
    const header = (i, key, pattern) => {
        const m = new RegExp(`^# ${key} (${pattern.source})$`).exec(lines[i] ?? "");
        if (!m)
            throw bad(`line ${i + 1} is not '# ${key} …'`);
        return m[1];
    };
    if (lines[0] !== `# ${OBJECTS_FORMAT} 1`)
        throw bad(`it is not a ${OBJECTS_FORMAT} version 1`);
    const named = header(1, "snapshot", /media_\d{8}_\d{6}/);
    if (named !== snapshot)
        throw bad(`it names ${named}, not ${snapshot}`);
    const indexSha256 = header(2, "index-sha256", /[0-9a-f]{64}/);
    const errors = Number(header(3, "errors", /\d{1,15}/));
    const objects = new Map();
    for (let i = 4; i < lines.length; i++) {
        const m = /^(\S+) (\d{1,15})$/.exec(lines[i]);
        if (!m || !isDataName(m[1]))
            throw bad(`line ${i + 1} is not '<data object> <bytes>'`);
        if (objects.has(m[1]))
            throw bad(`${m[1]} is listed twice`);
        objects.set(m[1], Number(m[2]));
    }
    return { snapshot, indexSha256, errors, objects };
}

;// CONCATENATED MODULE: ./src/storage/destination.ts
/** The same destination with another key prefix (e.g. media's `backups/media/data/` beside its database backups). */
function withPrefix(destination, prefix) {
    switch (destination.kind) {
        case "s3":
            return { kind: "s3", settings: { ...destination.settings, prefix } };
        case "gcs":
            return { kind: "gcs", settings: { ...destination.settings, prefix } };
        case "azure":
            return { kind: "azure", settings: { ...destination.settings, prefix } };
    }
}

;// CONCATENATED MODULE: ./src/media/remote-store.ts








/** A sums file larger than this is not one Lifeline wrote (three lines). */
const MAX_SUMS_BYTES = 4096;
/** Opens the media area of a configured destination: its bucket, under `prefix` instead of the database's. */
async function openMediaRemote(destination, prefix, logger, signal) {
    const data = await openStore(withPrefix(destination, `${prefix}${DATA_PREFIX}`), logger, signal);
    const snapshots = await openStore(withPrefix(destination, `${prefix}${SNAPSHOTS_PREFIX}`), logger, signal);
    return {
        kind: data.kind,
        location: data.location.slice(0, data.location.length - DATA_PREFIX.length),
        data,
        snapshots,
    };
}
/** Every snapshot under snapshots/, newest first; names Lifeline does not write are left out (and returned). */
async function listRemoteSnapshots(remote) {
    const listed = await remote.snapshots.list();
    const byName = new Map();
    const foreign = [];
    for (const o of listed) {
        const p = parsePartName(o.name);
        if (!p) {
            foreign.push(o);
            continue;
        }
        const s = byName.get(p.snapshot) ?? { encrypted: false, parts: new Map() };
        byName.set(p.snapshot, s);
        if (p.encrypted)
            s.encrypted = true;
        s.parts.set(p.part, o);
    }
    const snapshots = [...byName].map(([name, s]) => ({
        name,
        takenAt: snapshotTime(name),
        encrypted: s.encrypted,
        parts: s.parts,
        complete: s.parts.has("sums"),
    }));
    snapshots.sort((a, b) => (a.name < b.name ? 1 : -1));
    return { snapshots, foreign };
}
/** `sha256  name` lines, as sha256sum writes and checks them. */
function encodeSums(sums) {
    return [...sums].map(([name, sha]) => `${sha}  ${name}\n`).join("");
}
/** A snapshot's sums file: the SHA-256 of each of its other parts as stored. Throws when it is not valid. */
async function readSums(remote, snap) {
    const name = partName(snap.name, "sums", false);
    const where = remote.snapshots.uri(name);
    const text = await remote.snapshots.getText(name, { maxBytes: MAX_SUMS_BYTES });
    if (text === undefined)
        throw new shared_errors/* UserError */.yo(`${where} is missing: the snapshot ${snap.name} is not complete there`);
    if (text.length > MAX_SUMS_BYTES)
        throw new shared_errors/* UserError */.yo(`${where} is larger than a sums file can be: it was replaced`);
    const sums = new Map();
    for (const line of text.split("\n").filter((l) => l !== "")) {
        const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
        const part = m && parsePartName(m[2]);
        if (!m || !part || part.snapshot !== snap.name || part.part === "sums") {
            throw new shared_errors/* UserError */.yo(`${where} is not a valid sums file (line '${line.slice(0, 80)}'): it was changed or damaged; use another snapshot`);
        }
        sums.set(m[2], m[1]);
    }
    for (const part of SNAPSHOT_PARTS) {
        if (part === "sums")
            continue;
        if (!sums.has(partName(snap.name, part, snap.encrypted))) {
            throw new shared_errors/* UserError */.yo(`${where} has no checksum for the ${part} of ${snap.name}: it was changed or damaged`);
        }
    }
    return sums;
}
/** Hashes and counts what passes; more than `limit` bytes means the object is not one Lifeline wrote. */
const digestTap = (limit) => new DigestTap(limit, () => new shared_errors/* UserError */.yo(`more than ${limit} bytes arrived where no more were expected: the object was replaced`));
/**
 * Downloads one part of a remote snapshot into `sink`, checked against the sums file (the stored bytes),
 * and decrypted with `keyring` when the part is a gpg message. Nothing arrives unchecked: the caller
 * must treat what was written as valid only when this resolves. Resolves the SHA-256 of what was written.
 */
async function fetchPart(remote, snap, part, sums, sink, options = {}) {
    const name = partName(snap.name, part, snap.encrypted && part !== "objects");
    const where = remote.snapshots.uri(name);
    const expected = sums.get(name);
    if (!expected)
        throw new shared_errors/* UserError */.yo(`${where} has no checksum in the snapshot's sums file`);
    const body = await remote.snapshots.get(name, options.signal);
    const limit = part === "manifest" ? remote_index_MAX_MANIFEST_BYTES : MAX_INDEX_BYTES;
    const check = digestTap(limit);
    let plain = check;
    if (name.endsWith(".gpg")) {
        if (!options.keyring) {
            body.destroy();
            throw new shared_errors/* UserError */.yo(`${where} is encrypted: give the secret key (BACKUP_GPG_PRIVATE_KEY, or a keyring in GNUPGHOME) to read it`);
        }
        // Decrypted output goes to a staging sink the caller discards unless the ciphertext's hash matches.
        const stage = options.keyring.startDecrypt(true);
        // The plaintext is bounded too: a small compressed message can decrypt to gigabytes.
        plain = digestTap(limit);
        await Promise.all([
            (0,external_node_stream_promises_namespaceObject.pipeline)(body, check, stage.stdin),
            (0,external_node_stream_promises_namespaceObject.pipeline)(stage.stdout, plain, sink),
            stage.exited,
        ]).catch((err) => {
            stage.kill();
            throw err instanceof shared_errors/* UserError */.yo ? named(where, err) : undecryptable(where, err);
        });
    }
    else {
        await (0,external_node_stream_promises_namespaceObject.pipeline)(body, check, sink).catch((err) => {
            throw err instanceof shared_errors/* UserError */.yo ? named(where, err) : err;
        });
    }
    const actual = check.hex();
    if (actual !== expected) {
        throw new shared_errors/* UserError */.yo(`${where} does not match its checksum (sha256 ${actual}, the sums file says ${expected}): it was changed or ` +
            "damaged in the bucket; use another snapshot, or run verify");
    }
    return { plainSha256: check === plain ? actual : plain.hex() };
}
/** An error about an object, with the object's URI in front when the message does not name it. */
function named(where, err) {
    return err.message.includes(where) ? err : new shared_errors/* UserError */.yo(`${where}: ${err.message}`, { cause: err });
}
/** A gpg message that could not be decrypted: the key is not there, or it is another key's, or the message is damaged. */
function undecryptable(where, err) {
    if (err instanceof shared_errors/* UserError */.yo)
        return named(where, err);
    const gpg = err.message.split("\n")[0];
    const noKey = /no secret key/i.test(err.message);
    return new shared_errors/* UserError */.yo(`${where} could not be decrypted (${gpg}): ` +
        (noKey
            ? "the secret key it was encrypted to is not there: give it in BACKUP_GPG_PRIVATE_KEY (input gpg-private-key), or a keyring that holds it in GNUPGHOME"
            : "it is damaged or was replaced in the bucket; run verify --media, and restore another snapshot"), { cause: err });
}

;// CONCATENATED MODULE: ./src/media/remote-upload.ts













const CHUNK_BYTES = 1024 * 1024;
const READ_FLAGS = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK;
/** A file of the local snapshot that no longer matches its manifest: never uploaded, never a reason to reuse. */
class LocalSnapshotChangedError extends shared_errors/* UserError */.yo {
    name = "LocalSnapshotChangedError";
}
/**
 * Packs as large as one upload part (one PUT each), files up to a quarter of that packed. Two objects
 * in flight to a lone bucket; one each when several share the run (memory grows with the buckets).
 */
function packingFor(partSizeBytes, buckets = 1) {
    return {
        packTargetBytes: partSizeBytes,
        packedFileMaxBytes: Math.max(1, Math.floor(partSizeBytes / 4)),
        objectsInFlight: buckets > 1 ? 1 : 2,
    };
}
const NOTHING_KNOWN = { index: new ContentIndex(), blobs: new Map(), source: "none" };
/** A known location this run may point at: its object is sealed exactly as this run seals (same key, or plain). */
function usable(known, sha256, key) {
    const at = known.index.get(sha256);
    if (at && sealKeyOfName(at.object) === key)
        return true;
    return known.blobs.has(blobName(sha256, key));
}
/** The contents of the snapshot the bucket does not hold, grouped into packs and large objects. */
function planJobs(manifestFile, known, rule, key) {
    const jobs = [];
    const seen = new Set();
    let reused = 0;
    let pack = [];
    let packBytes = 0;
    const reader = ManifestReader.open(manifestFile);
    try {
        for (let e = reader.next(); e !== undefined; e = reader.next()) {
            if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable")
                continue;
            if (seen.has(e.sha256))
                continue;
            seen.add(e.sha256);
            if (usable(known, e.sha256, key)) {
                reused++;
                continue;
            }
            const member = { entry: e, sha256: e.sha256 };
            if (e.size >= rule.packedFileMaxBytes) {
                jobs.push({ kind: "blob", member });
                continue;
            }
            if (pack.length > 0 && packBytes + e.size > rule.packTargetBytes) {
                jobs.push({ kind: "pack", members: pack, bytes: packBytes });
                pack = [];
                packBytes = 0;
            }
            pack.push(member);
            packBytes += e.size;
        }
    }
    finally {
        reader.close();
    }
    if (pack.length > 0)
        jobs.push({ kind: "pack", members: pack, bytes: packBytes });
    return { jobs, reused };
}
/**
 * Uploads one local snapshot to one bucket: the contents it lacks (packs of small files, large files on
 * their own), then the snapshot's index, objects list and manifest, and its sums file last — only the
 * sums file makes the snapshot exist there, so a run that dies leaves no snapshot pointing at missing
 * data. Every file is read from the local snapshot and checked against the manifest's SHA-256 on the
 * way; one that does not match fails the upload (the local snapshot was changed after it was taken).
 */
async function uploadSnapshot(remote, o) {
    const started = Date.now();
    const manifestFile = external_node_path_default().join(o.snapshotDir, MANIFEST_FILE);
    const tree = external_node_path_default().join(o.snapshotDir, TREE_DIR);
    const encrypted = o.encryptor !== undefined;
    const key = o.encryptor ? sealKeyOf(o.encryptor.fingerprint) : undefined;
    const { jobs, reused } = planJobs(manifestFile, o.known, o.rule, key);
    o.onPlanned?.(jobs.reduce((a, j) => a + (j.kind === "pack" ? j.bytes : j.member.entry.size), 0));
    const written = new ContentIndex();
    let objects = 0;
    let bytes = 0;
    let reusedObjects = 0;
    const store = remote.data;
    const runJob = async (job) => {
        (0,shared_errors/* throwIfCancelled */.dZ)(o.signal, "The media upload was cancelled");
        const members = job.kind === "pack" ? job.members : [job.member];
        const name = job.kind === "pack"
            ? packName(members.map((m) => ({ sha256: m.sha256, size: m.entry.size })), key)
            : blobName(job.member.sha256, key);
        const size = job.kind === "pack" ? job.bytes : job.member.entry.size;
        const stored = await putObject(store, name, (sink) => writeMembers(tree, members, sink, o), {
            expectedBytes: size,
            encryptor: o.encryptor,
            logger: o.logger,
            onBytes: o.onBytes,
            holdsMembers: (signal) => holdsMembers(store, name, members, signal),
        });
        if (stored.existed)
            reusedObjects++;
        else {
            objects++;
            bytes += stored.bytes;
        }
        written.addObject(name, stored.bytes);
        let offset = 0;
        for (const m of members) {
            written.add(m.sha256, { object: name, offset, length: m.entry.size });
            offset += m.entry.size;
        }
    };
    await runLimited(jobs, o.rule.objectsInFlight, runJob);
    // The snapshot's own index: every content it references, wherever it is.
    const index = new ContentIndex();
    const reader = ManifestReader.open(manifestFile);
    let errors = 0;
    try {
        for (let e = reader.next(); e !== undefined; e = reader.next()) {
            if (e.state === "unreadable")
                errors++;
            if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable" || index.has(e.sha256))
                continue;
            const location = locate(e, written, o.known, key);
            index.add(e.sha256, location);
            const objectBytes = written.objectSize(location.object) ??
                o.known.index.objectSize(location.object) ??
                o.known.blobs.get(location.object);
            if (objectBytes === undefined)
                throw new Error(`no stored size for ${location.object}`);
            index.addObject(location.object, objectBytes);
        }
    }
    finally {
        reader.close();
    }
    const indexText = index.encode(o.snapshot);
    const indexSha256 = sha256Of(indexText);
    const sums = new Map();
    let metadataBytes = 0;
    const putPart = async (part, produce) => {
        const name = partName(o.snapshot, part, encrypted && part !== "objects");
        const stored = await putObject(remote.snapshots, name, produce, {
            readable: true,
            encryptor: part === "objects" ? undefined : o.encryptor,
            logger: o.logger,
            refuseExisting: true,
        });
        sums.set(name, stored.sha256);
        metadataBytes += stored.bytes;
    };
    await putPart("index", (sink) => writeText(sink, indexText));
    await putPart("objects", (sink) => writeText(sink, encodeObjectsFile({ snapshot: o.snapshot, indexSha256, errors, objects: new Map(index.objects()) })));
    await putPart("manifest", (sink) => (0,external_node_stream_promises_namespaceObject.pipeline)((0,external_node_fs_.createReadStream)(manifestFile), sink, { end: false }));
    const sumsText = encodeSums(sums);
    await remote.snapshots.put(partName(o.snapshot, "sums", false), sumsText);
    metadataBytes += Buffer.byteLength(sumsText);
    return {
        location: remote.location,
        snapshot: o.snapshot,
        objects,
        bytes,
        reusedContents: reused,
        reusedObjects,
        metadataBytes,
        seconds: (Date.now() - started) / 1000,
        index,
        indexText,
        indexSha256,
    };
}
function locate(e, written, known, key) {
    const sha = e.sha256;
    const found = written.get(sha) ?? known.index.get(sha);
    if (found && sealKeyOfName(found.object) === key)
        return found;
    const name = blobName(sha, key);
    if (known.blobs.has(name))
        return { object: name, offset: 0, length: e.size };
    throw new Error(`the content of ${showPath(e.path)} was neither uploaded nor known to the bucket`);
}
const sha256Of = (text) => (0,external_node_crypto_.createHash)("sha256").update(text).digest("hex");
async function writeText(sink, text) {
    for (let i = 0; i < text.length; i += CHUNK_BYTES) {
        if (!sink.write(text.slice(i, i + CHUNK_BYTES)))
            await drained(sink);
    }
}
function drained(sink) {
    return new Promise((resolve, reject) => {
        const settle = (err) => {
            sink.off("drain", onDrain);
            sink.off("error", onError);
            sink.off("close", onClose);
            if (err)
                reject(err);
            else
                resolve();
        };
        const onDrain = () => settle();
        const onError = (err) => settle(err);
        const onClose = () => settle(new Error("the upload stream was closed"));
        sink.once("drain", onDrain);
        sink.once("error", onError);
        sink.once("close", onClose);
    });
}
/** Streams each member from the local snapshot's tree, hashing it: a member that does not match its manifest fails. */
async function writeMembers(tree, members, sink, o) {
    for (const m of members) {
        (0,shared_errors/* throwIfCancelled */.dZ)(o.signal, "The media upload was cancelled");
        const file = fsPath(tree, m.entry.path);
        const handle = await (0,promises_.open)(file, READ_FLAGS).catch((err) => {
            throw new LocalSnapshotChangedError(`${showPath(m.entry.path)} cannot be read from the local snapshot ${external_node_path_default().dirname(tree)} (${err.message}): ` +
                "it was changed after the snapshot was taken; run verify --media, then back up again");
        });
        try {
            const hash = (0,external_node_crypto_.createHash)("sha256");
            let position = 0;
            for (;;) {
                // A fresh buffer per read: the sink may hold the last one until the upload has sent it.
                const buf = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, Math.max(1, m.entry.size - position + 1)));
                const { bytesRead } = await handle.read(buf, 0, buf.length, position);
                if (bytesRead === 0)
                    break;
                position += bytesRead;
                if (position > m.entry.size)
                    break;
                const chunk = buf.subarray(0, bytesRead);
                hash.update(chunk);
                if (!sink.write(chunk))
                    await drained(sink);
                o.onBytes?.(bytesRead);
            }
            const sha = position === m.entry.size ? hash.digest("hex") : "";
            if (sha !== m.sha256) {
                throw new LocalSnapshotChangedError(`${showPath(m.entry.path)} in the local snapshot ${external_node_path_default().dirname(tree)} no longer matches its manifest ` +
                    `(${position} bytes${sha ? `, sha256 ${sha}` : ""}; the manifest says ${m.entry.size} bytes, ${m.sha256}): ` +
                    "it was changed after the snapshot was taken, and is not uploaded. Run verify --media, then back up again");
            }
        }
        finally {
            await handle.close();
        }
    }
}
/**
 * One object written from what `produce` writes (through gpg when encrypting), never over an existing
 * one. A data object that turns out to exist already (an earlier run uploaded the same pack or file,
 * then died before its snapshot was complete) is kept and counted as reused.
 */
async function putObject(store, name, produce, options) {
    const upload = await store.upload(name, {
        ...(options.expectedBytes !== undefined ? { expectedBytes: options.expectedBytes } : {}),
        ...(options.readable ? { readable: true } : {}),
    });
    const counter = digestTap();
    let gpg;
    try {
        const into = (0,external_node_stream_promises_namespaceObject.pipeline)(counter, upload.stream);
        into.catch(() => { }); // awaited below; on an early failure the abort settles it
        if (options.encryptor) {
            gpg = options.encryptor.start();
            const stdin = gpg.stdin;
            const fed = (async () => {
                await produce(stdin);
                stdin.end();
            })();
            await Promise.all([fed, (0,external_node_stream_promises_namespaceObject.pipeline)(gpg.stdout, counter), gpg.exited, into]);
        }
        else {
            await produce(counter);
            counter.end();
            await into;
        }
        await upload.done;
        return { bytes: counter.bytes, sha256: counter.hex(), existed: false };
    }
    catch (err) {
        gpg?.kill();
        await upload.abort(err);
        // Only a write refused because the name is taken means "already there" — and then only an object of
        // exactly the size this one has (a plain one), or sealed to this run's own key (its name says so).
        if (!options.refuseExisting && (0,destination_error/* isAlreadyThere */.P2)(err)) {
            const there = await store.stat(name).catch(() => undefined);
            // A plain object is read back and each member hashed: a same-size planted object is not reused.
            // A sealed one cannot be read without the key; its name carries this run's key, and verify reads it.
            const fits = there !== undefined &&
                (options.encryptor
                    ? there.sizeBytes > 0
                    : there.sizeBytes === options.expectedBytes &&
                        (await (options.holdsMembers?.() ?? Promise.resolve(false)).catch(() => false)));
            if (fits) {
                options.logger.info(`${store.uri(name)} is already there (an earlier run's): kept, not uploaded again`);
                return { bytes: there.sizeBytes, sha256: "", existed: true };
            }
            throw new shared_errors/* UserError */.yo(`${store.uri(name)} exists but is not what this run would store (${there ? `${there.sizeBytes} bytes` : "unreadable"}` +
                `${options.encryptor ? "" : `, expected ${options.expectedBytes}`}): it was replaced in the bucket. Lifeline never ` +
                "overwrites; move it aside (or delete it) and run again, then run verify --media", { cause: err });
        }
        throw err;
    }
}
/** Whether a plain data object holds exactly `members`, one after another, each with its SHA-256. */
async function holdsMembers(store, name, members, signal) {
    const body = await store.get(name, signal);
    const total = members.reduce((a, m) => a + m.entry.size, 0);
    let index = 0;
    let left = members[0]?.entry.size ?? 0;
    let hash = (0,external_node_crypto_.createHash)("sha256");
    let seen = 0;
    const done = () => {
        while (index < members.length && left === 0) {
            if (hash.digest("hex") !== members[index]?.sha256)
                return false;
            index++;
            hash = (0,external_node_crypto_.createHash)("sha256");
            left = members[index]?.entry.size ?? 0;
        }
        return true;
    };
    try {
        if (!done())
            return false;
        for await (const chunk of body) {
            seen += chunk.length;
            if (seen > total)
                return false;
            let off = 0;
            while (off < chunk.length) {
                if (index >= members.length)
                    return false;
                const take = Math.min(left, chunk.length - off);
                hash.update(chunk.subarray(off, off + take));
                off += take;
                left -= take;
                if (!done())
                    return false;
            }
        }
        return seen === total && index === members.length;
    }
    finally {
        body.destroy();
    }
}
/** Runs `work` over `items`, at most `limit` at once; the first failure stops new work and is thrown once the rest settle. */
async function runLimited(items, limit, work) {
    let next = 0;
    let failure;
    const lane = async () => {
        while (failure === undefined && next < items.length) {
            const item = items[next++];
            try {
                await work(item);
            }
            catch (err) {
                failure ??= err;
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
    if (failure !== undefined)
        throw failure;
}

;// CONCATENATED MODULE: ./src/media/remote-known.ts











/** The local cache of what each bucket holds, inside MEDIA_BACKUP_DIR (and what the action caches). */
const OFFSITE_CACHE_DIR = ".offsite";
/** The cache directory of one bucket's media area: a hash of its location, so any prefix fits. */
function cacheDirOf(backupDir, location) {
    const key = (0,external_node_crypto_.createHash)("sha256").update(location).digest("hex").slice(0, 16);
    return external_node_path_default().join(backupDir, OFFSITE_CACHE_DIR, key);
}
/** Records the index of the snapshot just completed in the bucket, for the next run. */
async function writeCache(backupDir, location, snapshot, indexText, indexSha256) {
    const dir = cacheDirOf(backupDir, location);
    (0,external_node_fs_.mkdirSync)(dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(external_node_path_default().join(dir, "index.ndjson"), indexText);
    const state = { location, snapshot, indexSha256 };
    await writeFileAtomic(external_node_path_default().join(dir, "state.json"), `${JSON.stringify(state)}\n`);
}
/** Reads a whole part into memory (bounded), checked against the sums and decrypted when it must be. */
async function fetchText(remote, snap, part, sums, keyring, signal) {
    const chunks = [];
    let total = 0;
    const sink = new external_node_stream_.Writable({
        write(chunk, _enc, cb) {
            total += chunk.length;
            if (total > MAX_INDEX_BYTES)
                return cb(new Error(`it is larger than ${MAX_INDEX_BYTES} bytes`));
            chunks.push(chunk);
            cb();
        },
    });
    await fetchPart(remote, snap, part, sums, sink, { keyring, signal });
    return Buffer.concat(chunks).toString("utf8");
}
/** A complete snapshot's objects list, checked against its sums. */
async function readObjectsFile(remote, snap, sums) {
    const checked = sums ?? (await readSums(remote, snap));
    const text = await fetchText(remote, snap, "objects", checked);
    return parseObjectsFile(text, remote.snapshots.uri(`${snap.name}.objects`), snap.name);
}
/**
 * What the bucket already holds, for deduplication: the local cache when it belongs to the newest
 * complete snapshot there (checked against that snapshot's objects list), else that snapshot's index
 * from the bucket; an encrypted index with no key to read it leaves only its large files, known by name.
 */
async function loadKnown(remote, complete, backupDir, logger, keyring) {
    // The newest snapshot whose sums and objects list read back; a damaged one is passed over, not fatal.
    let newest;
    let sums;
    let objects;
    for (const snap of complete) {
        try {
            sums = await readSums(remote, snap);
            objects = await readObjectsFile(remote, snap, sums);
            newest = snap;
            break;
        }
        catch (err) {
            logger.warn(`${remote.location}: ${snap.name} cannot be read back (${(0,destination_error/* briefly */.m_)(err)}); deduplication looks at an older snapshot`);
        }
    }
    if (!newest || !sums || !objects)
        return NOTHING_KNOWN;
    const dir = cacheDirOf(backupDir, remote.location);
    try {
        const state = JSON.parse(await readRegularFile(external_node_path_default().join(dir, "state.json"), { maxBytes: 4096 }));
        const text = await readRegularFile(external_node_path_default().join(dir, "index.ndjson"), { maxBytes: MAX_INDEX_BYTES });
        const sha = (0,external_node_crypto_.createHash)("sha256").update(text).digest("hex");
        if (state.snapshot === newest.name && state.location === remote.location && sha === objects.indexSha256) {
            return {
                index: ContentIndex.parse(text, external_node_path_default().join(dir, "index.ndjson"), newest.name),
                blobs: new Map(),
                source: `the local cache of ${newest.name}`,
            };
        }
        if (state.snapshot !== newest.name) {
            logger.info(`The local index cache is of ${state.snapshot}; the newest snapshot in ${remote.location} is ${newest.name}`);
        }
        else
            logger.warn(`The local index cache of ${remote.location} does not match the bucket's: it is not used`);
    }
    catch { }
    if (!newest.encrypted || keyring) {
        try {
            const text = await fetchText(remote, newest, "index", sums, keyring);
            return {
                index: ContentIndex.parse(text, remote.snapshots.uri(`${newest.name}.index.ndjson`), newest.name),
                blobs: new Map(),
                source: `the index of ${newest.name} in the bucket`,
            };
        }
        catch (err) {
            logger.warn(`The index of ${newest.name} in ${remote.location} could not be read (${(0,destination_error/* briefly */.m_)(err)}); large files are matched by name only`);
        }
    }
    const blobs = new Map();
    for (const [name, bytes] of objects.objects) {
        if (!name.startsWith(PACK_PREFIX))
            blobs.set(name, bytes);
    }
    logger.warn(`No readable index of ${remote.location} (encrypted, and no local cache): small files are uploaded again in new packs; ` +
        "keep MEDIA_BACKUP_DIR (or the action's cache) between runs to avoid that");
    return {
        index: new ContentIndex(),
        blobs,
        source: `the large files named in ${newest.name}'s objects list`,
    };
}
/**
 * What is known, less what the bucket does not hold as recorded: one listing of data/, for a run that
 * must not trust the index (--full). Lost or replaced objects are then uploaded again.
 */
async function recheckKnown(remote, known, logger) {
    const listed = new Map((await remote.data.list()).map((o) => [o.name, o.sizeBytes]));
    const index = new ContentIndex();
    let dropped = 0;
    const holds = (object, bytes) => bytes !== undefined && listed.get(object) === bytes;
    for (const [name, bytes] of known.index.objects())
        if (holds(name, bytes))
            index.addObject(name, bytes);
    for (const [sha, at] of known.index.entries()) {
        if (index.objectSize(at.object) !== undefined)
            index.add(sha, at);
        else
            dropped++;
    }
    const blobs = new Map([...known.blobs].filter(([name, bytes]) => holds(name, bytes)));
    dropped += known.blobs.size - blobs.size;
    if (dropped > 0) {
        logger.warn(`${remote.location}: ${dropped} content(s) its index names are missing or changed there: they are uploaded again`);
    }
    return { index, blobs, source: `${known.source}, checked against a listing of data/` };
}

;// CONCATENATED MODULE: ./src/media/remote-gc.ts

/**
 * Which data objects garbage collection removes. An object is removed only when no kept snapshot
 * references it, it was already found unreferenced by an earlier collection at least `graceMs` ago,
 * and it was not written within `graceMs` (a backup still uploading, perhaps from another host, has
 * not referenced its new objects yet). An object that a snapshot removed in this very run still named
 * (`released`) starts its wait now, whatever the pending list says: a backup that started from that
 * snapshot may reuse it until it commits. Names Lifeline does not write are never touched; a name
 * listed twice counts once, at its newest time.
 *
 * The rule for packs: a pack is removed whole when none of its contents is referenced; a pack with
 * any referenced content is kept whole (never rewritten), and its unreferenced bytes are reported.
 */
function planGarbage(input) {
    const now = input.now.getTime();
    const remove = [];
    const pending = new Map();
    let removeBytes = 0;
    let pendingBytes = 0;
    const newest = new Map();
    for (const o of input.listed) {
        const seen = newest.get(o.name);
        if (!seen || seen.lastModified.getTime() < o.lastModified.getTime())
            newest.set(o.name, o);
    }
    for (const o of newest.values()) {
        if (!isDataName(o.name) || input.referenced.has(o.name))
            continue;
        const since = input.released?.has(o.name) ? undefined : input.pending.get(o.name);
        const oldEnough = now - o.lastModified.getTime() >= input.graceMs;
        if (since !== undefined && now - since.getTime() >= input.graceMs && oldEnough) {
            remove.push(o.name);
            removeBytes += o.sizeBytes;
        }
        else {
            // A time in the future (a clock set back, a tampered file) restarts the wait rather than ending it.
            pending.set(o.name, since !== undefined && since.getTime() <= now ? since : input.now);
            pendingBytes += o.sizeBytes;
        }
    }
    return { remove, pending, removeBytes, pendingBytes };
}
/** The pending list as stored: `<object> <ISO time>` lines. */
function encodePending(pending) {
    return [...pending].map(([name, since]) => `${name} ${since.toISOString()}\n`).join("");
}
/** Parses a pending list; lines that are not valid are dropped (their objects simply wait again). */
function parsePending(text) {
    const pending = new Map();
    for (const line of text.split("\n")) {
        const m = /^(\S+) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)$/.exec(line);
        if (!m || !isDataName(m[1]))
            continue;
        const at = new Date(m[2]);
        if (!Number.isNaN(at.getTime()))
            pending.set(m[1], at);
    }
    return pending;
}

;// CONCATENATED MODULE: ./src/media/remote-retention.ts





const remote_retention_DAY_MS = 24 * 3600 * 1000;
const PENDING_PATTERN = /^gc-pending-(\d{8}T\d{6}Z)\.txt$/;
/** Which remote snapshots MEDIA_RETENTION_DAYS removes: the local rules, judged on each snapshot's objects list. */
function planRemoteRetention(complete, options) {
    const cutoff = options.now.getTime() - options.days * remote_retention_DAY_MS;
    const newestComplete = complete.find((s) => s.objects !== undefined && s.objects.errors === 0)?.ref.name;
    const keep = [];
    const remove = [];
    for (const { ref, objects } of complete) {
        const age = `${((options.now.getTime() - ref.takenAt.getTime()) / remote_retention_DAY_MS).toFixed(1)} days old`;
        if (ref.name === newestComplete)
            keep.push({ name: ref.name, why: `the newest complete snapshot (${age})` });
        else if (ref.takenAt.getTime() >= cutoff)
            keep.push({ name: ref.name, why: `within ${options.days} days (${age})` });
        else if (objects === undefined)
            keep.push({ name: ref.name, why: `its objects list cannot be read (${age}): run verify` });
        else
            remove.push({ name: ref.name, why: `older than ${options.days} days (${age})` });
    }
    return { keep, remove };
}
/**
 * MEDIA_RETENTION_DAYS in one bucket, then garbage collection of the data no kept snapshot references.
 * A snapshot is removed sums first (it stops existing at once; an interrupted removal leaves parts the
 * next run sweeps as leftovers). Collection runs only when every kept snapshot's objects list and the
 * whole data listing were read: on any doubt it removes nothing.
 */
async function remote_retention_applyRemoteRetention(remote, options) {
    const started = Date.now();
    const { logger, now, dryRun } = options;
    const { snapshots, foreign } = await listRemoteSnapshots(remote);
    const complete = [];
    for (const ref of snapshots.filter((s) => s.complete)) {
        const objects = await readObjectsFile(remote, ref).catch((err) => {
            logger.warn(`${remote.location}: the objects list of ${ref.name} cannot be read: ${(0,destination_error/* briefly */.m_)(err)}`);
            return undefined;
        });
        complete.push({ ref, objects });
    }
    const plan = planRemoteRetention(complete, options);
    const removed = [];
    const failed = [];
    const leftovers = [];
    const deleteParts = async (ref) => {
        // The sums file first: from then on the snapshot does not exist, whatever else remains.
        const order = [...SNAPSHOT_PARTS].reverse();
        for (const part of order) {
            const o = ref.parts.get(part);
            if (o)
                await remote.snapshots.delete(o.name);
        }
    };
    if (!dryRun) {
        for (const r of plan.remove) {
            const ref = snapshots.find((s) => s.name === r.name);
            try {
                await deleteParts(ref);
                removed.push(r.name);
                logger.info(`Removed ${remote.location}snapshots/${r.name} (${r.why})`);
            }
            catch (err) {
                failed.push({ name: r.name, error: (0,destination_error/* briefly */.m_)(err) });
                logger.error(`Could not remove ${r.name} from ${remote.location}: ${(0,destination_error/* briefly */.m_)(err)}`);
            }
        }
        for (const ref of snapshots.filter((s) => !s.complete)) {
            const newest = Math.max(...[...ref.parts.values()].map((o) => o.lastModified.getTime()));
            if (now.getTime() - newest < options.graceMs)
                continue; // an upload may still be going on
            try {
                await deleteParts(ref);
                leftovers.push(ref.name);
                logger.warn(`Removed the parts of ${ref.name} from ${remote.location}: its upload never completed`);
            }
            catch (err) {
                logger.warn(`Could not remove the leftover parts of ${ref.name}: ${(0,destination_error/* briefly */.m_)(err)}; the next run tries again`);
            }
        }
    }
    // What still references data: every complete snapshot not removed (a dry run: as if the plan were applied).
    const gone = new Set(dryRun ? plan.remove.map((r) => r.name) : removed);
    const released = new Set();
    for (const c of complete)
        if (gone.has(c.ref.name))
            for (const name of c.objects?.objects.keys() ?? [])
                released.add(name);
    const gc = await collectGarbage(remote, {
        kept: complete.filter((c) => !gone.has(c.ref.name)),
        released,
        pendingFiles: foreign.map((o) => o.name).filter((n) => PENDING_PATTERN.test(n)),
        options,
    });
    return {
        location: remote.location,
        ...plan,
        dryRun,
        removed,
        failed,
        leftovers,
        gc,
        seconds: (Date.now() - started) / 1000,
    };
}
async function collectGarbage(remote, input) {
    const { logger, now, graceMs, dryRun } = input.options;
    const unreadable = input.kept.filter((k) => k.objects === undefined).map((k) => k.ref.name);
    if (unreadable.length > 0) {
        return {
            skipped: `the objects lists of ${unreadable.join(", ")} could not be read: nothing is collected until they can`,
        };
    }
    const referenced = new Set();
    for (const k of input.kept)
        for (const name of k.objects.objects.keys())
            referenced.add(name);
    let listed;
    try {
        listed = await remote.data.list();
    }
    catch (err) {
        return {
            skipped: `the listing of ${remote.data.location} failed (${(0,destination_error/* briefly */.m_)(err)}): nothing is collected`,
        };
    }
    const pendingFiles = [...input.pendingFiles].sort();
    const newestPending = pendingFiles.at(-1);
    let pending = new Map();
    if (newestPending) {
        const text = await remote.snapshots.getText(newestPending, { maxBytes: 64 << 20 }).catch(() => undefined);
        if (text === undefined)
            return { skipped: `${remote.snapshots.uri(newestPending)} could not be read: nothing is collected` };
        pending = parsePending(text);
    }
    const plan = planGarbage({ referenced, released: input.released, listed, pending, now, graceMs });
    if (dryRun)
        return { plan };
    const removed = [];
    const failed = [];
    let removedBytes = 0;
    const sizes = new Map(listed.map((o) => [o.name, o.sizeBytes]));
    for (const name of plan.remove) {
        try {
            await remote.data.delete(name);
            removed.push(name);
            removedBytes += sizes.get(name) ?? 0;
        }
        catch (err) {
            failed.push({ name, error: (0,destination_error/* briefly */.m_)(err) });
            logger.error(`${remote.location}: could not remove the unused ${name}: ${(0,destination_error/* briefly */.m_)(err)}; the next run tries again`);
        }
    }
    const stamp = now
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z");
    const next = `gc-pending-${stamp}.txt`;
    try {
        if (!pendingFiles.includes(next))
            await remote.snapshots.put(next, encodePending(plan.pending));
        for (const old of pendingFiles)
            if (old !== next)
                await remote.snapshots.delete(old);
    }
    catch (err) {
        logger.warn(`${remote.location}: the list of pending garbage could not be written (${(0,destination_error/* briefly */.m_)(err)}); the wait starts again next run`);
    }
    if (removed.length > 0)
        logger.info(`${remote.location}: removed ${removed.length} data objects no kept snapshot uses (${removedBytes} bytes)`);
    const live = listed.filter((o) => isDataName(o.name) && referenced.has(o.name));
    return {
        removed,
        removedBytes,
        failed,
        pendingObjects: plan.pending.size,
        pendingBytes: plan.pendingBytes,
        liveObjects: live.length,
        liveBytes: live.reduce((a, o) => a + o.sizeBytes, 0),
    };
}

;// CONCATENATED MODULE: ./src/media/media-offsite.ts







/**
 * Copies a finished local snapshot to every configured bucket, at once: each gets only the contents it
 * lacks, and its own retention and garbage collection afterwards. A bucket that fails is reported with
 * the stage and the reason; the others go on, and the local snapshot stays as it is.
 */
async function sendOffsite(input) {
    const { config, logger, signal } = input;
    if (config.destinations.length === 0)
        return [];
    const remotes = await Promise.all(config.destinations.map((d) => openMediaRemote(d, config.prefix, logger, signal)));
    const timeoutMs = config.destinations[0]?.settings.transfer.preflightTimeoutMs;
    const { ready, failed } = await preflightDestinations(remotes.map((r) => r.data), logger, { signal, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    const reports = failed.map((f) => ({
        kind: f.kind,
        location: remotes.find((r) => r.data.location === f.location)?.location ?? f.location,
        ok: false,
        error: f.error ?? "the destination could not be checked",
        stage: "preflight",
        ...EMPTY,
    }));
    const started = Date.now();
    const progress = { bytes: 0, of: 0, last: 0 };
    const tell = (n) => {
        progress.bytes += n;
        input.onBytes?.(n);
        if (input.onProgress && Date.now() - progress.last >= 1000) {
            progress.last = Date.now();
            input.onProgress({
                bytes: progress.bytes,
                of: progress.of,
                buckets: ready.length,
                elapsedSeconds: (Date.now() - started) / 1000,
            });
        }
    };
    const counted = {
        ...input,
        onBytes: tell,
        onPlanned: (n) => {
            progress.of += n;
        },
    };
    const live = remotes.filter((r) => ready.includes(r.data));
    let encryptor;
    try {
        encryptor = config.encryption
            ? await GpgEncryptor.prepare({
                recipient: config.encryption.recipient,
                publicKey: config.encryption.publicKey,
            })
            : undefined;
    }
    catch (err) {
        // The local snapshot stands; no bucket gets an unencrypted copy instead.
        logger.error(`No off-site copy is made: ${(0,destination_error/* briefly */.m_)(err)}`);
        for (const r of live) {
            reports.push({
                kind: r.kind,
                location: r.location,
                ok: false,
                error: (0,destination_error/* briefly */.m_)(err),
                stage: "preflight",
                ...EMPTY,
            });
        }
        return reports;
    }
    try {
        reports.push(...(await Promise.all(live.map((remote) => sendOne(remote, counted, encryptor)))));
    }
    finally {
        await encryptor?.dispose();
    }
    return reports;
}
const EMPTY = { objects: 0, bytes: 0, reusedContents: 0, reusedObjects: 0, metadataBytes: 0, seconds: 0 };
async function sendOne(remote, input, encryptor) {
    const { logger, config } = input;
    const started = Date.now();
    let knownFrom;
    let uploaded;
    try {
        const { snapshots } = await listRemoteSnapshots(remote);
        const complete = snapshots.filter((s) => s.complete);
        if (complete.some((s) => s.name === input.snapshot)) {
            logger.info(`${remote.location}: ${input.snapshot} is complete there already`);
        }
        else {
            const loaded = await loadKnown(remote, complete, input.backupDir, logger);
            const known = input.recheck ? await recheckKnown(remote, loaded, logger) : loaded;
            knownFrom = known.source;
            logger.info(`Uploading ${input.snapshot} to ${remote.location} (what the bucket holds: ${known.source})`);
            const transfer = config.destinations[0]?.settings.transfer;
            uploaded = await uploadSnapshot(remote, {
                snapshotDir: input.snapshotDir,
                snapshot: input.snapshot,
                known,
                rule: packingFor(transfer?.partSizeBytes ?? 8 << 20, config.destinations.length),
                encryptor,
                logger,
                signal: input.signal,
                onBytes: input.onBytes,
                onPlanned: input.onPlanned,
            });
            logger.info(`Off-site ${remote.location}: snapshot ${input.snapshot} complete, ${uploaded.objects} objects (${uploaded.bytes} bytes) ` +
                `uploaded in ${uploaded.seconds.toFixed(1)} s; ${uploaded.reusedContents} contents were there already`);
            try {
                await writeCache(input.backupDir, remote.location, input.snapshot, uploaded.indexText, uploaded.indexSha256);
            }
            catch (err) {
                logger.warn(`The local index cache of ${remote.location} could not be written: ${(0,destination_error/* briefly */.m_)(err)}; the next run reads the bucket's`);
            }
        }
    }
    catch (err) {
        const error = (0,destination_error/* briefly */.m_)(err);
        if (!input.signal?.aborted) {
            logger.error(`Off-site ${remote.location}: ${error} — the snapshot is not complete there; the local snapshot stands, and the next run uploads what is missing`);
        }
        return {
            kind: remote.kind,
            location: remote.location,
            ok: false,
            error,
            stage: "upload",
            ...EMPTY,
            seconds: (Date.now() - started) / 1000,
            ...(knownFrom ? { knownFrom } : {}),
        };
    }
    const seconds = (Date.now() - started) / 1000;
    let retention;
    if (!input.clean)
        retention = { skipped: "the snapshot recorded unreadable entries" };
    else {
        try {
            retention = await remote_retention_applyRemoteRetention(remote, {
                now: input.now(),
                days: input.retentionDays,
                dryRun: input.dryRun,
                graceMs: config.graceMs,
                logger,
            });
        }
        catch (err) {
            retention = { error: (0,destination_error/* briefly */.m_)(err) };
            logger.error(`Retention in ${remote.location} failed: ${(0,destination_error/* briefly */.m_)(err)}`);
        }
    }
    const retentionFailed = retention !== undefined &&
        ("error" in retention ||
            ("failed" in retention &&
                (retention.failed.length > 0 || ("failed" in retention.gc && retention.gc.failed.length > 0))));
    return {
        kind: remote.kind,
        location: remote.location,
        ok: !retentionFailed,
        ...(retentionFailed
            ? { error: `retention: ${retentionError(retention)}`, stage: "retention" }
            : {}),
        snapshot: input.snapshot,
        objects: uploaded?.objects ?? 0,
        bytes: uploaded?.bytes ?? 0,
        reusedContents: uploaded?.reusedContents ?? 0,
        reusedObjects: uploaded?.reusedObjects ?? 0,
        metadataBytes: uploaded?.metadataBytes ?? 0,
        seconds,
        ...(knownFrom ? { knownFrom } : {}),
        retention,
    };
}
function retentionError(r) {
    if (r === undefined || "skipped" in r)
        return "";
    if ("error" in r)
        return r.error;
    const failed = [...r.failed, ...("failed" in r.gc ? r.gc.failed : [])];
    return `${failed.length} removal(s) failed: ${failed
        .slice(0, 5)
        .map((f) => `${f.name}: ${f.error}`)
        .join("; ")}`;
}

;// CONCATENATED MODULE: ./src/media/snapshot-store.ts






/** A sidecar larger than this is not one Lifeline wrote. */
const MAX_SUM_BYTES = 4096;
/** Every snapshot in `backupDir` (directories named media_YYYYMMDD_HHMMSS), newest first. */
function listSnapshots(backupDir) {
    const found = [];
    for (const entry of (0,external_node_fs_.readdirSync)(backupDir, { withFileTypes: true })) {
        const takenAt = snapshotTime(entry.name);
        if (takenAt && entry.isDirectory())
            found.push({ name: entry.name, dir: external_node_path_default().join(backupDir, entry.name), takenAt });
    }
    return found.sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime() || (a.name < b.name ? 1 : -1));
}
/** The snapshot `current` names, or undefined (no link yet); a link elsewhere is reported, never followed. */
function readCurrent(backupDir) {
    let target;
    try {
        target = (0,external_node_fs_.readlinkSync)(external_node_path_default().join(backupDir, CURRENT_LINK));
    }
    catch (err) {
        const code = err.code;
        if (code === "ENOENT")
            return {};
        return { problem: `${external_node_path_default().join(backupDir, CURRENT_LINK)} is not a symbolic link (${code})` };
    }
    if (!snapshotTime(target)) {
        return {
            problem: `${external_node_path_default().join(backupDir, CURRENT_LINK)} points at '${target}', not at a snapshot of this directory`,
        };
    }
    return { name: target };
}
/** Points `current` at `name` in one rename, so a reader sees the old snapshot or the new one, never neither. */
function swapCurrent(backupDir, name) {
    const temp = external_node_path_default().join(backupDir, `.${CURRENT_LINK}.${process.pid}.tmp`);
    (0,external_node_fs_.rmSync)(temp, { force: true });
    (0,external_node_fs_.symlinkSync)(name, temp);
    (0,external_node_fs_.renameSync)(temp, external_node_path_default().join(backupDir, CURRENT_LINK));
    syncDir(backupDir);
}
/** Makes a rename or a new entry in `dir` durable. */
function syncDir(dir) {
    const fd = (0,external_node_fs_.openSync)(dir, "r");
    try {
        (0,external_node_fs_.fsyncSync)(fd);
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/** Writes the manifest's sidecar in sha256sum's format, so `sha256sum -c` works inside the snapshot. */
async function writeManifestSum(snapshotDir, sha256) {
    await writeFileAtomic(external_node_path_default().join(snapshotDir, MANIFEST_SUM_FILE), `${sha256}  ${MANIFEST_FILE}\n`);
}
/** The SHA-256 the sidecar records for the manifest; throws a ManifestError naming what is wrong. */
async function readManifestSum(snapshotDir) {
    const file = external_node_path_default().join(snapshotDir, MANIFEST_SUM_FILE);
    let text;
    try {
        text = await readRegularFile(file, { maxBytes: MAX_SUM_BYTES });
    }
    catch (err) {
        throw new ManifestError(`The manifest checksum ${file} cannot be read: ${err.message}`, {
            cause: err,
        });
    }
    const m = /^([0-9a-f]{64}) [ *]manifest\.ndjson\n?$/.exec(text);
    if (!m)
        throw new ManifestError(`The manifest checksum ${file} is not '<sha256>  ${MANIFEST_FILE}'`);
    return m[1];
}
/**
 * Reads a snapshot's manifest to its end against its checksum, `each` seeing every entry, and throws a
 * ManifestError when the sidecar, the manifest or their match is wrong. Bounded memory.
 */
async function readWholeManifest(snapshotDir, each = () => { }) {
    const expected = await readManifestSum(snapshotDir);
    const file = external_node_path_default().join(snapshotDir, MANIFEST_FILE);
    let reader;
    try {
        reader = ManifestReader.open(file);
    }
    catch (err) {
        if (err instanceof ManifestError)
            throw err;
        throw new ManifestError(`The manifest ${file} cannot be read: ${err.message}`, { cause: err });
    }
    try {
        for (let e = reader.next(); e !== undefined; e = reader.next())
            each(e);
        const actual = reader.digest();
        if (actual !== expected) {
            throw new ManifestError(`The manifest ${file} does not match its checksum (sha256 ${actual}, ${MANIFEST_SUM_FILE} says ${expected}): ` +
                "it was changed or damaged after the snapshot was taken; use another snapshot");
        }
        return { header: reader.header, totals: reader.totals };
    }
    finally {
        reader.close();
    }
}

;// CONCATENATED MODULE: ./src/media/media-retention.ts





const media_retention_DAY_MS = 24 * 3600 * 1000;
/**
 * Which snapshots MEDIA_RETENTION_DAYS removes: those taken more than `days` days before `now`, but
 * never the one `current` names nor the newest complete one (a complete snapshot is one whose
 * manifest matches its checksum and recorded no error): an incomplete snapshot never counts as kept.
 */
async function planMediaRetention(snapshots, options) {
    const cutoff = options.now.getTime() - options.days * media_retention_DAY_MS;
    let newestComplete;
    for (const s of snapshots) {
        // Newest first: the first complete one is the one never removed. Read only as far as needed.
        try {
            const { totals } = await readWholeManifest(s.dir);
            if (totals.errors === 0) {
                newestComplete = s.name;
                break;
            }
        }
        catch { }
    }
    const keep = [];
    const remove = [];
    for (const s of snapshots) {
        const age = `${((options.now.getTime() - s.takenAt.getTime()) / media_retention_DAY_MS).toFixed(1)} days old`;
        if (s.name === options.current)
            keep.push({ name: s.name, why: `current names it (${age})` });
        else if (s.name === newestComplete)
            keep.push({ name: s.name, why: `the newest complete snapshot (${age})` });
        else if (s.takenAt.getTime() >= cutoff)
            keep.push({ name: s.name, why: `within ${options.days} days (${age})` });
        else
            remove.push({ name: s.name, why: `older than ${options.days} days (${age})` });
    }
    return { keep, remove };
}
/**
 * Applies a plan: each snapshot is first renamed to .<name>.deleting (it leaves the listing at once, and
 * an interrupted removal is finished by the next run), then removed. Failures are reported, not thrown.
 */
function applyMediaRetention(backupDir, plan, options) {
    const started = Date.now();
    const removed = [];
    const failed = [];
    for (const k of plan.keep)
        options.logger.info(`Retention: keeping ${k.name}: ${k.why}`);
    for (const r of plan.remove) {
        if (options.dryRun) {
            options.logger.info(`Retention (dry run): would remove ${r.name}: ${r.why}`);
            continue;
        }
        const doomed = external_node_path_default().join(backupDir, deletingName(r.name));
        try {
            (0,external_node_fs_.renameSync)(external_node_path_default().join(backupDir, r.name), doomed);
            syncDir(backupDir);
            removeTree(doomed);
            removed.push(r.name);
            options.logger.info(`Retention: removed ${r.name}: ${r.why}`);
        }
        catch (err) {
            failed.push({ name: r.name, error: err.message });
            options.logger.error(`Retention: could not remove ${r.name}: ${err.message}`);
        }
    }
    return { ...plan, dryRun: options.dryRun, removed, failed, seconds: (Date.now() - started) / 1000 };
}

;// CONCATENATED MODULE: ./src/media/copy-file.ts





/** Files up to this size are copied in one sync read and write; larger ones stream through two buffers. */
const SMALL_FILE_BYTES = 1024 * 1024;
const copy_file_CHUNK_BYTES = 1024 * 1024;
const copy_file_READ_FLAGS = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK;
const WRITE_FLAGS = external_node_fs_.constants.O_WRONLY | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_EXCL;
/**
 * Seconds for utimes from nanoseconds, aimed at the middle of the microsecond: utimes takes a double
 * (about 0.24 µs apart at today's dates), so aiming at the µs boundary itself lands one µs low about
 * half the time. The snapshot and the restore both keep mtimes to the microsecond this way.
 */
function secondsOf(ns) {
    return (Number(ns / 1000n) + 0.5) / 1e6;
}
function applyMetadata(fd, meta) {
    if (meta.uid !== undefined && meta.gid !== undefined)
        (0,external_node_fs_.fchownSync)(fd, meta.uid, meta.gid);
    (0,external_node_fs_.fchmodSync)(fd, meta.mode);
    (0,external_node_fs_.futimesSync)(fd, meta.atime, meta.mtime);
}
/** Opens a file to copy (never following a symlink, never blocking on a FIFO); throws unless it is a regular file. */
function openSource(src) {
    const fd = (0,external_node_fs_.openSync)(src, copy_file_READ_FLAGS);
    if (!(0,external_node_fs_.fstatSync)(fd).isFile()) {
        (0,external_node_fs_.closeSync)(fd);
        throw Object.assign(new Error("it was replaced by something that is not a regular file while being copied"), {
            code: "ENOTREG",
        });
    }
    return fd;
}
/** Marks an error as the snapshot's (writing the copy), not the source's: a full disk, a path too long. */
function onSnapshotSide(err) {
    if (err && typeof err === "object")
        Object.assign(err, { side: "snapshot" });
    return err;
}
/** Whether an error came from writing the copy rather than from reading the source. */
const isSnapshotSide = (err) => err?.side === "snapshot";
/**
 * Copies a small file in one read and one write (sync: a few syscalls cost less than a trip through
 * the thread pool), hashing the bytes read. `src` is a path, or a descriptor from openSource (read from
 * its start, left open). The copy is created exclusively and never left half written.
 */
function copySmallFile(src, dst, meta, scratch) {
    const fd = typeof src === "number" ? src : openSource(src);
    let out;
    try {
        let total = 0;
        const hash = (0,external_node_crypto_.createHash)("sha256");
        try {
            out = (0,external_node_fs_.openSync)(dst, WRITE_FLAGS, 0o600);
        }
        catch (err) {
            throw onSnapshotSide(err);
        }
        for (;;) {
            const n = (0,external_node_fs_.readSync)(fd, scratch, 0, scratch.length, total);
            if (n === 0)
                break;
            hash.update(scratch.subarray(0, n));
            try {
                let off = 0;
                while (off < n)
                    off += (0,external_node_fs_.writeSync)(out, scratch, off, n - off);
            }
            catch (err) {
                throw onSnapshotSide(err);
            }
            total += n;
        }
        applyMetadata(out, meta);
        const after = (0,external_node_fs_.fstatSync)(fd, { bigint: true });
        (0,external_node_fs_.closeSync)(out);
        out = undefined;
        return { sha256: hash.digest("hex"), bytes: total, after };
    }
    catch (err) {
        if (out !== undefined) {
            (0,external_node_fs_.closeSync)(out);
            (0,external_node_fs_.unlinkSync)(dst);
        }
        throw err;
    }
    finally {
        if (typeof src !== "number")
            (0,external_node_fs_.closeSync)(fd);
    }
}
const readAt = (0,external_node_util_.promisify)(external_node_fs_.read);
/**
 * Copies a large file from a descriptor (openSource; left open): the kernel copies it in the thread
 * pool (copy_file_range, or a clone where the filesystem offers one: btrfs, XFS) while this thread
 * reads the same source for its SHA-256, so the bytes cross user space once and two cores share the
 * work. A copy whose size differs from what was hashed is reported `torn` (the source changed
 * meanwhile); the caller copies it again. The signal is checked between chunks.
 */
async function copyLargeFile(fd, dst, meta, signal) {
    const copying = (0,promises_.copyFile)(`/proc/self/fd/${fd}`, dst, external_node_fs_.constants.COPYFILE_EXCL | external_node_fs_.constants.COPYFILE_FICLONE);
    copying.catch(() => { }); // awaited below; a failure meanwhile must not count as unhandled
    let out;
    try {
        const hash = (0,external_node_crypto_.createHash)("sha256");
        const size = Math.min(copy_file_CHUNK_BYTES, (0,external_node_fs_.fstatSync)(fd).size + 1);
        const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)];
        let which = 0;
        let position = 0;
        let reading = readAt(fd, buffers[0], 0, size, 0);
        for (;;) {
            const { bytesRead } = await reading;
            if (bytesRead === 0)
                break;
            (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media backup was cancelled; the partial snapshot is removed");
            const buf = buffers[which];
            position += bytesRead;
            which ^= 1;
            reading = readAt(fd, buffers[which], 0, size, position);
            reading.catch(() => { });
            hash.update(buf.subarray(0, bytesRead));
        }
        try {
            await copying;
        }
        catch (err) {
            throw onSnapshotSide(err);
        }
        out = (0,external_node_fs_.openSync)(dst, external_node_fs_.constants.O_WRONLY);
        const torn = (0,external_node_fs_.fstatSync)(out).size !== position;
        applyMetadata(out, meta);
        const after = (0,external_node_fs_.fstatSync)(fd, { bigint: true });
        (0,external_node_fs_.closeSync)(out);
        out = undefined;
        return { sha256: hash.digest("hex"), bytes: position, after, ...(torn ? { torn } : {}) };
    }
    catch (err) {
        if (out !== undefined)
            (0,external_node_fs_.closeSync)(out);
        const made = await copying.then(() => true, (e) => e.code !== "EEXIST");
        if (made) {
            try {
                (0,external_node_fs_.unlinkSync)(dst);
            }
            catch { }
        }
        throw err;
    }
}

;// CONCATENATED MODULE: ./src/media/tree-walk.ts



function typeOf(stats) {
    if (stats.isDirectory())
        return "dir";
    if (stats.isFile())
        return "file";
    if (stats.isSymbolicLink())
        return "symlink";
    if (stats.isFIFO())
        return "fifo";
    if (stats.isSocket())
        return "socket";
    if (stats.isCharacterDevice())
        return "char-device";
    return "block-device";
}
/**
 * Glob patterns a walk leaves out (MEDIA_EXCLUDE): a pattern without "/" matches a name at any depth
 * ("*.tmp", ".cache"), one with "/" the path from the tree's root ("cache/**", "tmp/*.part"). An
 * excluded directory is not descended into.
 */
class ExcludeRules {
    patterns;
    constructor(patterns) {
        this.patterns = patterns.map((p) => p.replace(/^\/+/, "").replace(/\/+$/, "")).filter((p) => p !== "");
    }
    excludes(rel) {
        if (this.patterns.length === 0)
            return false;
        const text = Buffer.from(rel, "latin1").toString("utf8");
        const name = text.slice(text.lastIndexOf("/") + 1);
        return this.patterns.some((p) => external_node_path_default().posix.matchesGlob(p.includes("/") ? text : name, p));
    }
}
const DIR_FLAGS = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_DIRECTORY | external_node_fs_.constants.O_NOFOLLOW;
const HAVE_PROC_FD = (0,external_node_fs_.existsSync)("/proc/self/fd");
/**
 * A depth-first walk in walk order (see compareRelPaths), one directory's names in memory at a time, so
 * memory follows the largest directory rather than the tree. Yields the root first. Each directory is
 * opened (O_NOFOLLOW), checked to be the one listed (same device and inode) and read through its
 * descriptor. Sync: an lstat is a few microseconds, far less than a trip through the thread pool.
 */
class TreeWalk {
    exclude;
    stack = [];
    rootBytes;
    constructor(root, exclude) {
        this.exclude = exclude;
        this.rootBytes = root;
    }
    /** Leaves out the children of `dir`, the directory just yielded (it could not be stored). */
    skipChildrenOf(dir) {
        const top = this.stack[this.stack.length - 1];
        if (top && top.dir === dir)
            this.pop();
    }
    /** Closes every directory still open (the walk was left early). */
    close() {
        while (this.stack.length > 0)
            this.pop();
    }
    *entries() {
        try {
            const rootAt = fsPath(this.rootBytes, "");
            yield this.enter("", rootAt, (0,external_node_fs_.lstatSync)(rootAt, { bigint: true }));
            while (this.stack.length > 0) {
                const frame = this.stack[this.stack.length - 1];
                if (frame.index >= frame.names.length) {
                    this.pop();
                    continue;
                }
                const name = frame.names[frame.index++];
                const rel = joinRel(frame.dir, name);
                if (this.exclude.excludes(rel))
                    continue;
                const at = this.childPath(frame, name);
                let stats;
                try {
                    stats = (0,external_node_fs_.lstatSync)(at, { bigint: true });
                }
                catch (err) {
                    yield { path: rel, error: err };
                    continue;
                }
                const type = typeOf(stats);
                yield type === "dir" ? this.enter(rel, at, stats) : { path: rel, type, stats, at };
            }
        }
        finally {
            this.close();
        }
    }
    childPath(frame, name) {
        return frame.fd === undefined
            ? fsPath(this.rootBytes, joinRel(frame.dir, name))
            : Buffer.from(`/proc/self/fd/${frame.fd}/${name}`, "latin1");
    }
    enter(dir, at, stats) {
        let fd;
        try {
            let listFrom = at;
            if (HAVE_PROC_FD) {
                fd = (0,external_node_fs_.openSync)(at, DIR_FLAGS);
                const opened = (0,external_node_fs_.fstatSync)(fd, { bigint: true });
                if (opened.ino !== stats.ino || opened.dev !== stats.dev) {
                    throw Object.assign(new Error("it was replaced while the backup read it"), { code: "ECHANGED" });
                }
                listFrom = `/proc/self/fd/${fd}`;
            }
            const names = (0,external_node_fs_.readdirSync)(listFrom, { encoding: "buffer" }).map((n) => n.toString("latin1"));
            names.sort();
            this.stack.push({ dir, names, index: 0, fd });
            return { path: dir, type: "dir", stats, at };
        }
        catch (err) {
            if (fd !== undefined)
                (0,external_node_fs_.closeSync)(fd);
            return { path: dir, type: "dir", stats, at, listError: err };
        }
    }
    pop() {
        const frame = this.stack.pop();
        if (frame?.fd !== undefined)
            (0,external_node_fs_.closeSync)(frame.fd);
    }
}
function isWalkError(e) {
    return "error" in e;
}

;// CONCATENATED MODULE: ./src/media/snapshot-builder.ts






/** At most this many large files are being copied at once (two buffers each). */
const LARGE_COPIES_IN_FLIGHT = 2;
/**
 * Files up to this size are copied inline (sync read, hash, write); larger ones by the kernel in the
 * thread pool while this thread hashes them. A lower bound (64 KiB) measured slower on 2 cores: more
 * system time for the same bytes.
 */
const INLINE_COPY_BYTES = SMALL_FILE_BYTES;
/** Entries waiting for an earlier large copy before their manifest line can be written. */
const MAX_QUEUED = 4096;
/** How often the sync walk yields to the event loop (signals, progress, the action's log line). */
const YIELD_EVERY_MS = 50;
/** ... and while large copies are in flight, which advance only when it does. */
const YIELD_EVERY_MS_COPYING = 1;
/** Names kept for the log and summary per kind of problem; the manifest has them all. */
const NAMED_PER_KIND = 20;
const asRoot = process.getuid?.() === 0;
/**
 * Builds one snapshot tree from the source in walk order, merge-joined against the previous snapshot's
 * manifest (both sorted, so memory does not grow with the file count): a file whose size, mtime, ctime
 * and inode match is hard-linked to the previous snapshot and never read; anything else is copied and
 * hashed. Manifest lines are written in walk order even though large copies run concurrently.
 */
async function buildSnapshot(options) {
    const { source, tree, manifest, logger, signal } = options;
    const totals = {
        entries: 0,
        files: 0,
        dirs: 0,
        symlinks: 0,
        bytes: 0,
        newFiles: 0,
        changedFiles: 0,
        unchangedFiles: 0,
        deletedFiles: 0,
        bytesCopied: 0,
        bytesLinked: 0,
        errors: 0,
        skipped: 0,
        changedDuringBackup: 0,
    };
    const problems = { unreadable: [], skipped: [], changedDuringBackup: [] };
    const name = (list, rel, why) => {
        if (list.length < NAMED_PER_KIND)
            list.push(why ? `${showPath(rel)} (${why})` : showPath(rel));
    };
    const largest = [];
    const noteCopied = (rel, size) => {
        if (largest.length < 5 || size > largest[largest.length - 1].size) {
            largest.push({ path: showPath(rel), size });
            largest.sort((a, b) => b.size - a.size);
            if (largest.length > 5)
                largest.pop();
        }
    };
    const queue = [];
    let inFlight = [];
    const scratch = Buffer.allocUnsafe(SMALL_FILE_BYTES + 1);
    // Inodes with more links than seen so far; an inode leaves once its last link is met (memory grows
    // with the hard-linked files whose other links are still ahead, or outside the source).
    const hardLinks = new Map();
    const openDirs = [];
    const started = Date.now();
    let lastYield = Date.now();
    let lastProgress = Date.now();
    let failure;
    const drain = () => {
        while (queue.length > 0 && queue[0].done) {
            const slot = queue.shift();
            if (slot.entry) {
                manifest.add(slot.entry);
                totals.entries++;
            }
            slot.after?.();
        }
    };
    const push = (slot) => {
        queue.push(slot);
        drain();
    };
    const waitForRoom = async () => {
        while (inFlight.length >= LARGE_COPIES_IN_FLIGHT || queue.length >= MAX_QUEUED) {
            await Promise.race(inFlight.length > 0 ? inFlight : [queue[0]?.work]);
            if (failure)
                throw failure;
            drain();
        }
    };
    const metaOf = (stats) => ({
        mode: Number(stats.mode) & 0o7777,
        atime: secondsOf(stats.mtimeNs),
        mtime: secondsOf(stats.mtimeNs),
        ...(asRoot ? { uid: Number(stats.uid), gid: Number(stats.gid) } : {}),
    });
    const baseEntry = (rel, w) => ({
        path: rel,
        type: w.type,
        mode: Number(w.stats.mode) & 0o7777,
        uid: Number(w.stats.uid),
        gid: Number(w.stats.gid),
        size: w.type === "file" ? Number(w.stats.size) : 0,
        mtimeNs: w.stats.mtimeNs,
        ctimeNs: w.stats.ctimeNs,
        ino: w.stats.ino,
    });
    /** Finishes the open directories that do not hold `parent` (all of them when it is undefined). */
    const closeDirsUntil = (parent) => {
        while (openDirs.length > 0 &&
            (parent === undefined || !isWithin(parent, openDirs[openDirs.length - 1].rel))) {
            const dir = openDirs.pop();
            // After every entry inside it: creating them changed its mtime, and its mode may forbid writing.
            push({
                done: true,
                after: () => {
                    const dst = fsPath(tree, dir.rel);
                    const meta = metaOf(dir.stats);
                    if (meta.uid !== undefined && meta.gid !== undefined)
                        (0,external_node_fs_.lchownSync)(dst, meta.uid, meta.gid);
                    (0,external_node_fs_.chmodSync)(dst, meta.mode);
                    (0,external_node_fs_.utimesSync)(dst, meta.atime, meta.mtime);
                },
            });
        }
    };
    // The previous manifest, read in step with the walk.
    const prev = options.previous;
    let prevEntry = prev?.manifest.next();
    const previousAt = (rel) => {
        while (prevEntry && compareRelPaths(prevEntry.path, rel) < 0) {
            if (prevEntry.type === "file")
                totals.deletedFiles++;
            prevEntry = prev?.manifest.next();
        }
        if (!prevEntry || prevEntry.path !== rel)
            return undefined;
        const matched = prevEntry;
        prevEntry = prev?.manifest.next(); // consumed: it is not among the deleted
        return matched;
    };
    const unchanged = (before, stats) => before !== undefined &&
        before.type === "file" &&
        before.state === undefined &&
        before.sha256 !== undefined &&
        before.size === Number(stats.size) &&
        before.mtimeNs === stats.mtimeNs &&
        before.ctimeNs === stats.ctimeNs &&
        before.ino === stats.ino;
    // Whether a directory of the previous tree is itself (no symlink on the way out of MEDIA_BACKUP_DIR):
    // checked once per directory, since the walk visits a directory's files together.
    let prevDirChecked;
    const prevDirIsReal = (dir) => {
        if (!prev)
            return false;
        if (prevDirChecked?.dir !== dir) {
            let ok = false;
            try {
                ok = external_node_fs_.realpathSync
                    .native(fsPath(prev.tree, dir), { encoding: "buffer" })
                    .equals(fsPath(prev.tree, dir));
            }
            catch { }
            prevDirChecked = { dir, ok };
        }
        return prevDirChecked.ok;
    };
    /**
     * Links the previous snapshot's copy; false when it is not there as the manifest and the builder left
     * it (type, size, mode, mtime to the µs; no symlink among its directories): then the file is copied.
     */
    const linkPrevious = (rel, before) => {
        if (!prev || !prevDirIsReal(parentOf(rel)))
            return false;
        const from = fsPath(prev.tree, rel);
        try {
            const st = (0,external_node_fs_.lstatSync)(from, { bigint: true });
            const µs = (ns) => ns / 1000n;
            const mtimeOff = µs(st.mtimeNs) - µs(before.mtimeNs);
            if (!st.isFile() || Number(st.size) !== before.size || (Number(st.mode) & 0o7777) !== before.mode)
                return false;
            if (mtimeOff > 1n || mtimeOff < -1n)
                return false;
            (0,external_node_fs_.linkSync)(from, fsPath(tree, rel));
            return true;
        }
        catch {
            return false; // missing, EMLINK (too many links), EXDEV: copy instead
        }
    };
    /** Copies one file into the snapshot; false when it vanished from the source meanwhile (then it has no entry). */
    const copyFile = async (rel, w, entry, isNew) => {
        const dst = fsPath(tree, rel);
        let stats = w.stats;
        const notStored = (err) => {
            if (isFatal(err, signal))
                throw err;
            if (isVanished(err) && !isSnapshotSide(err)) {
                logger.info(`${showPath(rel)} was deleted from the source while the backup ran; it is not in this snapshot`);
                return false;
            }
            const [verb, where] = isSnapshotSide(err) ? ["store", "in the snapshot"] : ["read", "in the source"];
            entry.state = "unreadable";
            entry.error = `cannot ${verb} it ${where}: ${showError(err)}`;
            totals.errors++;
            name(problems.unreadable, rel, showError(err));
            logger.error(`Cannot ${verb} ${showPath(rel)} ${where} (${showError(err)}); it is not in this snapshot`);
            return true;
        };
        // Opened now, while the walk still holds its directory: the descriptor serves both attempts, so a
        // directory swapped for a symlink meanwhile cannot redirect the copy.
        let fd;
        try {
            fd = openSource(w.at);
        }
        catch (err) {
            return notStored(err);
        }
        try {
            for (let attempt = 1;; attempt++) {
                let copied;
                try {
                    copied =
                        // The second attempt reads, hashes and writes the same bytes in one pass: a file still
                        // changing is then stored exactly as its manifest entry says.
                        stats.size <= BigInt(INLINE_COPY_BYTES) || attempt > 1
                            ? copySmallFile(fd, dst, metaOf(stats), scratch)
                            : await copyLargeFile(fd, dst, metaOf(stats), signal);
                }
                catch (err) {
                    return notStored(err);
                }
                const a = copied.after;
                const same = !copied.torn &&
                    BigInt(copied.bytes) === stats.size &&
                    a.size === stats.size &&
                    a.mtimeNs === stats.mtimeNs &&
                    a.ctimeNs === stats.ctimeNs &&
                    a.ino === stats.ino;
                if (!same && attempt === 1) {
                    // Changed while copied: once more from its new state, then take what we get.
                    unlinkQuiet(dst);
                    stats = a;
                    entry.size = Number(a.size);
                    entry.mtimeNs = a.mtimeNs;
                    entry.ctimeNs = a.ctimeNs;
                    entry.mode = Number(a.mode) & 0o7777;
                    continue;
                }
                entry.sha256 = copied.sha256;
                entry.size = copied.bytes;
                if (!same) {
                    entry.state = "changed-during-backup";
                    totals.changedDuringBackup++;
                    name(problems.changedDuringBackup, rel);
                    logger.warn(`${showPath(rel)} changed while it was copied, twice: the snapshot holds what was read`);
                }
                totals.files++;
                totals.bytes += copied.bytes;
                totals.bytesCopied += copied.bytes;
                if (isNew)
                    totals.newFiles++;
                else
                    totals.changedFiles++;
                noteCopied(rel, copied.bytes);
                return true;
            }
        }
        finally {
            (0,external_node_fs_.closeSync)(fd);
        }
    };
    const addFile = async (rel, w, entry) => {
        const before = previousAt(rel);
        const key = w.stats.nlink > 1n ? `${w.stats.dev}:${w.stats.ino}` : undefined;
        const first = key ? hardLinks.get(key) : undefined;
        if (key && first && --first.left <= 0)
            hardLinks.delete(key);
        if (first) {
            // A hard link in the source: the same inode in the snapshot, once its first path is copied.
            if (!first.slot.done)
                await first.slot.work;
            const firstEntry = first.slot.entry;
            if (firstEntry && firstEntry.state !== "unreadable" && firstEntry.sha256) {
                try {
                    (0,external_node_fs_.linkSync)(fsPath(tree, first.path), fsPath(tree, rel));
                    entry.linkTo = first.path;
                    entry.sha256 = firstEntry.sha256;
                    entry.size = firstEntry.size;
                    totals.files++;
                    totals.bytes += entry.size;
                    totals.bytesLinked += entry.size;
                    if (before)
                        totals.unchangedFiles++;
                    else
                        totals.newFiles++;
                    push({ entry, done: true });
                    return;
                }
                catch { } // EMLINK: an independent copy
            }
        }
        if (!options.previous || !unchanged(before, w.stats) || !linkPrevious(rel, before)) {
            const isNew = before === undefined || before.type !== "file";
            if (w.stats.size <= BigInt(INLINE_COPY_BYTES)) {
                const kept = await copyFile(rel, w, entry, isNew);
                const slot = kept ? { entry, done: true } : { done: true };
                if (key && !first)
                    hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
                push(slot);
                return;
            }
            await waitForRoom();
            const slot = { entry, done: false };
            const work = copyFile(rel, w, entry, isNew).then((kept) => {
                if (!kept)
                    slot.entry = undefined;
                slot.done = true;
            }, (err) => {
                failure ??= err;
                slot.done = true;
            });
            slot.work = work;
            inFlight.push(work);
            void work.finally(() => {
                inFlight = inFlight.filter((p) => p !== work);
            });
            if (key && !first)
                hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
            push(slot);
            return;
        }
        entry.sha256 = before.sha256;
        totals.files++;
        totals.unchangedFiles++;
        totals.bytes += entry.size;
        totals.bytesLinked += entry.size;
        const slot = { entry, done: true };
        if (key && !first)
            hardLinks.set(key, { path: rel, slot, left: Number(w.stats.nlink) - 1 });
        push(slot);
    };
    const walk = new TreeWalk(source, options.exclude);
    try {
        for (const item of walk.entries()) {
            if (failure)
                throw failure;
            // Bounded memory: entries wait behind a large copy only up to MAX_QUEUED, then the walk waits.
            if (queue.length >= MAX_QUEUED)
                await waitForRoom();
            if (Date.now() - lastYield >= (inFlight.length > 0 ? YIELD_EVERY_MS_COPYING : YIELD_EVERY_MS)) {
                await (0,external_node_timers_promises_.setImmediate)();
                lastYield = Date.now();
                (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media backup was cancelled; the partial snapshot is removed");
                if (options.onProgress && Date.now() - lastProgress >= 1000) {
                    lastProgress = Date.now();
                    options.onProgress({
                        entries: totals.entries,
                        bytesCopied: totals.bytesCopied,
                        bytesLinked: totals.bytesLinked,
                        elapsedSeconds: (Date.now() - started) / 1000,
                    });
                }
            }
            const rel = item.path;
            closeDirsUntil(parentOf(rel));
            if (isWalkError(item)) {
                previousAt(rel);
                if (isVanished(item.error))
                    continue; // deleted since its directory was listed
                totals.errors++;
                name(problems.unreadable, rel, showError(item.error));
                logger.error(`Cannot read ${showPath(rel)} in the source (${showError(item.error)}); it is not in this snapshot`);
                push({
                    entry: {
                        path: rel,
                        type: "file",
                        mode: 0,
                        uid: 0,
                        gid: 0,
                        size: 0,
                        mtimeNs: 0n,
                        ctimeNs: 0n,
                        ino: 0n,
                        state: "unreadable",
                        error: `cannot read it in the source: ${showError(item.error)}`,
                    },
                    done: true,
                });
                continue;
            }
            const entry = baseEntry(rel, item);
            const dst = fsPath(tree, rel);
            switch (item.type) {
                case "dir": {
                    if (rel !== "") {
                        previousAt(rel);
                        try {
                            (0,external_node_fs_.mkdirSync)(dst, 0o700);
                        }
                        catch (err) {
                            // A path too long for the snapshot (its prefix is longer than the source's), say: this
                            // directory and what is in it are left out and named; the rest of the tree goes on.
                            if (isFatal(err, signal))
                                throw err;
                            walk.skipChildrenOf(rel);
                            entry.state = "unreadable";
                            entry.error = `cannot store it in the snapshot: ${showError(err)}`;
                            totals.errors++;
                            name(problems.unreadable, rel, showError(err));
                            logger.error(`Cannot store the directory ${showPath(rel)} in the snapshot (${showError(err)}); it and its contents are not in this snapshot`);
                            push({ entry, done: true });
                            break;
                        }
                    }
                    totals.dirs++;
                    if (item.listError) {
                        entry.state = "unreadable";
                        entry.error = `cannot list it in the source: ${showError(item.listError)}`;
                        totals.errors++;
                        name(problems.unreadable, rel, showError(item.listError));
                        logger.error(`Cannot list the directory ${showPath(rel)} in the source (${showError(item.listError)})`);
                    }
                    push({ entry, done: true });
                    openDirs.push({ rel, stats: item.stats });
                    break;
                }
                case "file":
                    await addFile(rel, item, entry);
                    break;
                case "symlink": {
                    previousAt(rel);
                    try {
                        const target = (0,external_node_fs_.readlinkSync)(item.at, { encoding: "buffer" });
                        (0,external_node_fs_.symlinkSync)(target, dst);
                        const meta = metaOf(item.stats);
                        if (meta.uid !== undefined && meta.gid !== undefined)
                            (0,external_node_fs_.lchownSync)(dst, meta.uid, meta.gid);
                        (0,external_node_fs_.lutimesSync)(dst, meta.atime, meta.mtime);
                        entry.target = target.toString("latin1");
                        totals.symlinks++;
                    }
                    catch (err) {
                        if (isFatal(err, signal))
                            throw err;
                        entry.state = "unreadable";
                        entry.error = `cannot copy the symlink: ${showError(err)}`;
                        totals.errors++;
                        name(problems.unreadable, rel, showError(err));
                        logger.error(`Cannot copy the symlink ${showPath(rel)} (${showError(err)}); it is not in this snapshot`);
                    }
                    push({ entry, done: true });
                    break;
                }
                default: {
                    previousAt(rel);
                    entry.state = "skipped";
                    totals.skipped++;
                    name(problems.skipped, rel, item.type);
                    logger.warn(`Skipped ${showPath(rel)}: it is a ${item.type}, which a backup does not copy`);
                    push({ entry, done: true });
                }
            }
        }
        closeDirsUntil(undefined); // the root last
        await Promise.all(inFlight);
        if (failure)
            throw failure;
        drain();
        previousAt("\uffff"); // what is left of the previous manifest was deleted from the source
    }
    catch (err) {
        await Promise.allSettled(inFlight);
        throw err;
    }
    if (queue.length > 0)
        throw new Error(`snapshot builder: ${queue.length} manifest entries were not written`);
    return { totals, problems, largestCopied: largest };
}
/** What ends the whole run rather than one entry: cancellation, and a snapshot that cannot be written. */
function isFatal(err, signal) {
    if (signal?.aborted)
        return true;
    const code = err.code;
    const full = code === "ENOSPC" || code === "EDQUOT" || code === "EROFS";
    return full || (code === "EIO" && isSnapshotSide(err));
}
function unlinkQuiet(p) {
    try {
        (0,external_node_fs_.unlinkSync)(p);
    }
    catch { }
}
const isVanished = (err) => err.code === "ENOENT";

;// CONCATENATED MODULE: ./src/media/backup-media.ts


















/**
 * Takes one media snapshot (runbook: backup_media.sh): the source tree copied into
 * MEDIA_BACKUP_DIR/.media_<time>.partial, unchanged files hard-linked to the previous snapshot, with a
 * manifest of every entry; renamed to media_<time> and `current` moved to it only when complete. A
 * run that dies leaves the previous snapshot and `current` as they were.
 */
async function backupMedia(config, options) {
    const { logger, signal } = options;
    const now = options.now ?? (() => new Date());
    const startedAt = now();
    const source = backup_media_checkSource(config);
    const run = await prepare({
        backupDir: config.backupDir,
        workDir: "",
        workDirWhat: "MEDIA_BACKUP_DIR",
        logName: "media_backup",
        owner: "backup-media",
        startedAt,
        logger,
    });
    try {
        const backupDir = (0,external_node_fs_.realpathSync)(config.backupDir);
        backup_media_removeLeftovers(backupDir, logger);
        const name = snapshotName(startedAt);
        const finalDir = external_node_path_default().join(backupDir, name);
        if ((0,external_node_fs_.existsSync)(finalDir)) {
            throw new NameTakenError(`A snapshot named ${name} already exists in ${backupDir} (a run started in the same second): it was left ` +
                "as it is and no new snapshot was taken. Run again a second later");
        }
        const previous = config.full ? undefined : findPrevious(backupDir, logger);
        const previousCheck = previous ? await checkPrevious(external_node_path_default().join(backupDir, previous), logger) : undefined;
        const partialDir = external_node_path_default().join(backupDir, partialName(name));
        (0,external_node_fs_.mkdirSync)(partialDir, { mode: 0o700 });
        const tree = external_node_path_default().join(partialDir, TREE_DIR);
        (0,external_node_fs_.mkdirSync)(tree, { mode: 0o700 });
        const mode = previousCheck ? "incremental" : "full";
        logger.info(`Backing up ${config.sourceDir} into ${finalDir} (${mode}${previousCheck ? `, unchanged files linked to ${previous}` : ""})`);
        const writer = ManifestWriter.create(external_node_path_default().join(partialDir, MANIFEST_FILE), {
            format: "lifeline-media-manifest",
            version: 1,
            snapshot: name,
            source: config.sourceDir,
            createdAt: startedAt.toISOString(),
            tool: `lifeline ${LIFELINE_VERSION}`,
            mode,
            previous: previousCheck ? previous : null,
        });
        let reader;
        let built;
        let manifestSha256;
        try {
            reader = previousCheck
                ? ManifestReader.open(external_node_path_default().join(backupDir, previous, MANIFEST_FILE))
                : undefined;
            built = await buildSnapshot({
                source,
                tree: toBinary(tree),
                ...(reader
                    ? {
                        previous: {
                            tree: toBinary(external_node_path_default().join(backupDir, previous, TREE_DIR)),
                            manifest: reader,
                        },
                    }
                    : {}),
                exclude: new ExcludeRules(config.exclude),
                manifest: writer,
                logger,
                signal,
                ...(options.onProgress
                    ? {
                        onProgress: (p) => options.onProgress?.({
                            ...p,
                            ...(previousCheck ? { previousEntries: previousCheck.entries } : {}),
                        }),
                    }
                    : {}),
            });
            (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media backup was cancelled; the partial snapshot is removed");
            manifestSha256 = writer.finish(built.totals).sha256;
            await writeManifestSum(partialDir, manifestSha256);
            (0,external_node_fs_.renameSync)(partialDir, finalDir);
            syncDir(backupDir);
        }
        catch (err) {
            writer.abandon();
            removeQuietly(partialDir, logger);
            throw err;
        }
        finally {
            reader?.close();
        }
        swapCurrent(backupDir, name);
        const { totals, problems } = built;
        logger.info(`Snapshot ${name}: ${totals.files} files (${totals.newFiles} new, ${totals.changedFiles} changed, ` +
            `${totals.unchangedFiles} unchanged, ${totals.deletedFiles} deleted), ${totals.bytesCopied} bytes copied, ` +
            `${totals.bytesLinked} linked; current -> ${name}`);
        const clean = totals.errors === 0;
        let retention;
        if (!clean) {
            retention = {
                skipped: `the snapshot recorded ${totals.errors} unreadable entr${totals.errors === 1 ? "y" : "ies"}`,
            };
            logger.warn(`Retention skipped: ${retention.skipped}; it runs after a complete snapshot only`);
        }
        else {
            try {
                const plan = await planMediaRetention(listSnapshots(backupDir), {
                    now: now(),
                    days: config.retentionDays,
                    current: readCurrent(backupDir).name,
                });
                retention = applyMediaRetention(backupDir, plan, { dryRun: config.retentionDryRun, logger });
            }
            catch (err) {
                retention = { error: err.message };
                logger.error(`Retention failed: ${err.message}`);
            }
        }
        const offsite = config.offsite
            ? await sendOffsite({
                config: config.offsite,
                backupDir,
                snapshotDir: finalDir,
                snapshot: name,
                clean,
                recheck: config.full,
                retentionDays: config.retentionDays,
                dryRun: config.retentionDryRun,
                now,
                logger,
                signal,
                ...(options.onUploadBytes ? { onBytes: options.onUploadBytes } : {}),
                ...(options.onUploadProgress ? { onProgress: options.onUploadProgress } : {}),
            })
            : [];
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, `The media backup was cancelled during the off-site copies; the local snapshot ${name} stands`);
        const exitCode = clean && offsite.every((o) => o.ok) ? 0 : 1;
        const finishedAt = now();
        const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
        const metrics = await publishMetrics(config.metrics, { type: "media" }, [
            ...backupSamples("media", {
                ok: exitCode === 0,
                finishedAt,
                durationSeconds,
                ...(clean ? { sizeBytes: totals.bytes } : {}),
            }, offsite.map((o) => ({
                kind: o.kind,
                location: o.location,
                ok: o.ok,
                bytes: o.bytes,
                seconds: o.seconds,
            }))),
            gauge("backup_media_files", "Files in the latest media snapshot", { type: "media" }, totals.files),
            gauge("backup_media_new_bytes", "Bytes copied (new or changed files) by the latest media snapshot", { type: "media" }, totals.bytesCopied),
        ], logger, signal);
        if (!clean)
            run.recordFailure(new Error(`${totals.errors} entries could not be read; see the log above`));
        for (const o of offsite.filter((r) => !r.ok))
            run.recordFailure(new Error(`${o.location}: ${o.error}`));
        return {
            snapshot: name,
            snapshotDir: finalDir,
            previous: previousCheck ? previous : undefined,
            mode,
            totals,
            problems,
            largestCopied: built.largestCopied,
            manifestSha256,
            startedAt,
            finishedAt,
            durationSeconds,
            logFile: run.logFile,
            retention,
            metrics,
            offsite,
            exitCode,
        };
    }
    catch (err) {
        run.recordFailure(err);
        throw err;
    }
    finally {
        await run.release();
    }
}
/** The source as a binary path, refused when missing, not a directory, or overlapping MEDIA_BACKUP_DIR. */
function backup_media_checkSource(config) {
    let real;
    try {
        real = (0,external_node_fs_.realpathSync)(config.sourceDir);
        if (!(0,external_node_fs_.statSync)(real).isDirectory())
            throw new Error("it is not a directory");
    }
    catch (err) {
        throw new shared_errors/* ConfigError */.xL(`MEDIA_SOURCE_DIR '${config.sourceDir}' cannot be backed up: ${err.message}. Set it to the media directory`);
    }
    const inside = (a, b) => a === b || a.startsWith(`${b}/`);
    const backupResolved = resolveAsItWillBe(config.backupDir);
    if (inside(backupResolved, real) || inside(real, backupResolved)) {
        throw new shared_errors/* ConfigError */.xL(`MEDIA_BACKUP_DIR '${config.backupDir}' and MEDIA_SOURCE_DIR '${config.sourceDir}' overlap: snapshots would ` +
            "back themselves up. Keep the backup directory outside the media directory (and the other way round)");
    }
    return toBinary(real);
}
/** The real path a directory has, or will have once created: its nearest existing ancestor resolved. */
function resolveAsItWillBe(dir) {
    let existing = external_node_path_default().resolve(dir);
    const rest = [];
    for (;;) {
        try {
            return external_node_path_default().join((0,external_node_fs_.realpathSync)(existing), ...rest.reverse());
        }
        catch {
            const parent = external_node_path_default().dirname(existing);
            if (parent === existing)
                return external_node_path_default().resolve(dir);
            rest.push(external_node_path_default().basename(existing));
            existing = parent;
        }
    }
}
/** The snapshot an incremental run links against: the one `current` names, else the newest. */
function findPrevious(backupDir, logger) {
    const current = readCurrent(backupDir);
    if (current.problem)
        logger.warn(`${current.problem}; linking against the newest snapshot instead`);
    if (current.name && (0,external_node_fs_.existsSync)(external_node_path_default().join(backupDir, current.name)))
        return current.name;
    return listSnapshots(backupDir)[0]?.name;
}
/** Reads the previous manifest against its checksum first: links are only made to a snapshot it vouches for. */
async function checkPrevious(snapshotDir, logger) {
    try {
        const { totals } = await readWholeManifest(snapshotDir);
        return { entries: totals.entries };
    }
    catch (err) {
        logger.warn(`${err.message}. This run copies every file (a full snapshot) instead of linking to it`);
        return undefined;
    }
}
/** Partial snapshots of runs that died and deletions retention did not finish: removed under the lock. */
function backup_media_removeLeftovers(backupDir, logger) {
    for (const name of (0,external_node_fs_.readdirSync)(backupDir)) {
        if (!isLeftover(name))
            continue;
        if (removeQuietly(external_node_path_default().join(backupDir, name), logger)) {
            logger.warn(`Removed ${name}, left by an earlier run that died`);
        }
    }
}
function removeQuietly(dir, logger) {
    try {
        removeTree(dir);
        return true;
    }
    catch (err) {
        logger.warn(`Could not remove ${dir}: ${err.message}; the next run tries again`);
        return false;
    }
}

;// CONCATENATED MODULE: ./src/media/media-progress.ts


/**
 * A backup's progress in words: entries done, bytes copied and linked, the copy rate, elapsed time and
 * an ETA from the previous snapshot's entry count (the best guess of this run's size).
 */
function describeBuildProgress(p) {
    const rate = p.elapsedSeconds > 0 ? p.bytesCopied / p.elapsedSeconds : 0;
    let eta = "";
    if (p.previousEntries && p.entries > 0 && p.entries < p.previousEntries) {
        eta = `, ETA ${clock((p.elapsedSeconds / p.entries) * (p.previousEntries - p.entries))} (previous snapshot: ${p.previousEntries} entries)`;
    }
    return (`${p.entries} entries, ${formatBytes(p.bytesCopied)} copied (${formatBytes(rate)}/s), ` +
        `${formatBytes(p.bytesLinked)} linked, ${clock(p.elapsedSeconds)} elapsed${eta}`);
}
/** The off-site copies' progress in words: contents read for the buckets of those planned, rate, ETA. */
function describeOffsiteProgress(p) {
    const rate = p.elapsedSeconds > 0 ? p.bytes / p.elapsedSeconds : 0;
    const eta = rate > 0 && p.bytes < p.of ? `, ETA ${clock((p.of - p.bytes) / rate)}` : "";
    return (`off-site (${p.buckets} bucket${p.buckets === 1 ? "" : "s"}): ${formatBytes(p.bytes)} of ${formatBytes(p.of)} sent ` +
        `(${formatBytes(rate)}/s), ${clock(p.elapsedSeconds)} elapsed${eta}`);
}
/** A verification's progress in words: which snapshot of how many, entries checked, bytes read and rate. */
function describeVerifyProgress(p) {
    const rate = p.elapsedSeconds > 0 ? p.bytesRead / p.elapsedSeconds : 0;
    return (`snapshot ${p.index}/${p.snapshots} (${p.snapshot}): ${p.entries} entries, ${formatBytes(p.bytesRead)} read ` +
        `(${formatBytes(rate)}/s), ${clock(p.elapsedSeconds)} elapsed`);
}
/** A restore's progress in words: entries placed of those in scope, bytes written, rate, elapsed, ETA. */
function describeRestoreProgress(p) {
    const rate = p.elapsedSeconds > 0 ? p.bytes / p.elapsedSeconds : 0;
    const eta = p.entries > 0 && p.entries < p.of
        ? `, ETA ${clock((p.elapsedSeconds / p.entries) * (p.of - p.entries))}`
        : "";
    return (`${p.entries}/${p.of} entries, ${formatBytes(p.bytes)} written (${formatBytes(rate)}/s), ` +
        `${clock(p.elapsedSeconds)} elapsed${eta}`);
}

;// CONCATENATED MODULE: ./src/media/remote-source.ts














const DEFAULT_STALL_MS = 120_000;
/** Decrypted objects kept on disk at once while restoring from an encrypted bucket (packs are read in order). */
const CACHED_OBJECTS = 2;
/** Chooses the snapshot: latest is the newest complete one in the bucket; a name must be complete there. */
async function chooseRemoteSnapshot(remote, wanted) {
    const { snapshots } = await listRemoteSnapshots(remote);
    const complete = snapshots.filter((s) => s.complete);
    const listing = complete.length === 0
        ? "it holds no complete snapshot"
        : `the complete snapshots there, newest first: ${complete
            .slice(0, 10)
            .map((s) => s.name)
            .join(", ")}`;
    const chosen = wanted === "latest" ? complete[0] : complete.find((s) => s.name === wanted);
    if (!chosen) {
        const incomplete = snapshots.some((s) => s.name === wanted && !s.complete);
        throw new shared_errors/* UserError */.yo(`${wanted === "latest" ? "No snapshot" : `The snapshot '${wanted}'`} is ${incomplete ? "not complete" : "not"} in ${remote.location}: ${listing}. ` +
            "Set MEDIA_SNAPSHOT to one of them, or check MEDIA_REMOTE_PREFIX and the bucket");
    }
    return chosen;
}
/**
 * Downloads a remote snapshot's manifest and index, each checked against the snapshot's sums file
 * (and decrypted with `keyring` when encrypted), into a private staging directory, and gives file
 * contents by byte ranges of the objects that hold them: a restore of one path reads only what that
 * path needs. Every content is hashed again as the restore writes it.
 */
async function stageRemoteSnapshot(remote, snap, options) {
    const dir = (0,external_node_fs_.mkdtempSync)(external_node_path_default().join((0,external_node_os_.tmpdir)(), "lifeline-media-stage-"));
    // It may hold decrypted packs: removed on every way out, a second Ctrl-C (process.exit) included.
    const onExit = () => (0,external_node_fs_.rmSync)(dir, { recursive: true, force: true });
    process.once("exit", onExit);
    const dispose = () => {
        process.off("exit", onExit);
        onExit();
    };
    try {
        const sums = await readSums(remote, snap);
        const manifest = external_node_path_default().join(dir, MANIFEST_FILE);
        const { plainSha256 } = await fetchPart(remote, snap, "manifest", sums, (0,external_node_fs_.createWriteStream)(manifest, { mode: 0o600 }), options);
        // The local sidecar holds the plaintext's hash: the reader checks the manifest against it as it reads.
        await writeManifestSum(dir, plainSha256);
        const where = remote.snapshots.uri(`${snap.name}.index.ndjson`);
        const index = ContentIndex.parse(await fetchText(remote, snap, "index", sums, options.keyring, options.signal), where, snap.name);
        const fetched = { requests: 0, bytes: 0 };
        const decrypted = new Map();
        const undecrypted = new Map();
        const limits = new Map();
        for (const [, l] of index.entries())
            limits.set(l.object, Math.max(limits.get(l.object) ?? 0, l.offset + l.length));
        const decryptedObject = async (object) => {
            const have = decrypted.get(object);
            if (have) {
                decrypted.delete(object);
                decrypted.set(object, have); // most recently used last
                return have;
            }
            const failed = undecrypted.get(object);
            if (failed)
                throw failed; // one failure per object, not one download per member
            if (!options.keyring) {
                throw new shared_errors/* UserError */.yo(`${remote.data.uri(object)} is encrypted: give the secret key (BACKUP_GPG_PRIVATE_KEY) to restore from it`);
            }
            const file = external_node_path_default().join(dir, `object-${decrypted.size}-${Date.now()}`);
            const body = await remote.data.get(object, options.signal);
            fetched.requests++;
            const guarded = counting(fetched, options.stallMs ?? DEFAULT_STALL_MS, remote.data.uri(object));
            const stage = options.keyring.startDecrypt(true);
            const limit = limits.get(object) ?? 0;
            await Promise.all([
                (0,external_node_stream_promises_namespaceObject.pipeline)(body, guarded, stage.stdin),
                (0,external_node_stream_promises_namespaceObject.pipeline)(stage.stdout, bounded(limit, remote.data.uri(object)), (0,external_node_fs_.createWriteStream)(file, { mode: 0o600 })),
                stage.exited,
            ]).catch((err) => {
                stage.kill();
                (0,external_node_fs_.rmSync)(file, { force: true });
                const error = undecryptable(remote.data.uri(object), err);
                undecrypted.set(object, error);
                throw error;
            });
            decrypted.set(object, file);
            while (decrypted.size > CACHED_OBJECTS) {
                const [oldest, oldFile] = decrypted.entries().next().value;
                decrypted.delete(oldest);
                (0,external_node_fs_.rmSync)(oldFile, { force: true });
            }
            return file;
        };
        const content = async (entry, signal) => {
            const l = entry.sha256 === undefined ? undefined : index.get(entry.sha256);
            if (!l)
                throw new Error(`the bucket's index has no content for ${showPath(entry.path)} (sha256 ${entry.sha256})`);
            if (l.length !== entry.size)
                throw new Error(`the bucket's index records ${l.length} bytes for it, the manifest ${entry.size}`);
            if (l.length === 0)
                return external_node_stream_.Readable.from([]);
            if (isEncryptedName(l.object)) {
                const file = await decryptedObject(l.object);
                return (0,external_node_fs_.createReadStream)(file, { start: l.offset, end: l.offset + l.length - 1 });
            }
            fetched.requests++;
            const body = await remote.data.get(l.object, signal, { start: l.offset, end: l.offset + l.length });
            // pipeline, not pipe: a body cut or stalled mid-range must end the reader with an error.
            const counted = counting(fetched, options.stallMs ?? DEFAULT_STALL_MS, remote.data.uri(l.object));
            (0,external_node_stream_.pipeline)(body, counted, () => { });
            return counted;
        };
        return { snapshot: snap.name, dir, index, content, fetched, dispose };
    }
    catch (err) {
        dispose();
        throw err;
    }
}
/** Counts what arrives, and fails the stream when nothing arrives for `stallMs` (a black-holed body). */
function counting(fetched, stallMs, where) {
    let timer;
    const t = new external_node_stream_.Transform({
        transform(chunk, _enc, cb) {
            fetched.bytes += chunk.length;
            arm();
            cb(null, chunk);
        },
        flush(cb) {
            clearTimeout(timer);
            cb();
        },
        destroy(err, cb) {
            clearTimeout(timer);
            cb(err);
        },
    });
    const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => t.destroy(new shared_errors/* UserError */.yo(`${where} sent nothing for ${stallMs / 1000} s: the download was given up; check the network and retry`)), stallMs);
        timer.unref();
    };
    arm();
    return t;
}
/** Passes at most `limit` bytes: an object that decrypts to more than its index allows is refused. */
const bounded = (limit, where) => new DigestTap(limit, () => new shared_errors/* UserError */.yo(`${where} decrypts to more than the ${limit} bytes its index records: it was replaced; run verify`));

;// CONCATENATED MODULE: ./src/media/file-hash.ts




/** Files up to SMALL_FILE_BYTES are hashed in sync reads; larger ones in async reads, two buffers in turn. */

const file_hash_CHUNK_BYTES = 1024 * 1024;
/** Never through a symlink, and never blocked on a FIFO put in a file's place. */
const file_hash_READ_FLAGS = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK;
function openRegular(file) {
    const fd = (0,external_node_fs_.openSync)(file, file_hash_READ_FLAGS);
    if (!(0,external_node_fs_.fstatSync)(fd).isFile()) {
        (0,external_node_fs_.closeSync)(fd);
        throw new Error("it is no longer a regular file");
    }
    return fd;
}
const scratch = Buffer.allocUnsafe(file_hash_CHUNK_BYTES);
/** Sync: for a small file a few syscalls cost less than trips through the thread pool. */
function hashSmallFile(file) {
    const fd = openRegular(file);
    try {
        const hash = (0,external_node_crypto_.createHash)("sha256");
        let bytes = 0;
        for (let n = (0,external_node_fs_.readSync)(fd, scratch, 0, file_hash_CHUNK_BYTES, null); n > 0; n = (0,external_node_fs_.readSync)(fd, scratch, 0, file_hash_CHUNK_BYTES, null)) {
            hash.update(scratch.subarray(0, n));
            bytes += n;
        }
        const st = (0,external_node_fs_.fstatSync)(fd, { bigint: true });
        return { sha256: hash.digest("hex"), bytes, dev: st.dev, ino: st.ino };
    }
    finally {
        (0,external_node_fs_.closeSync)(fd);
    }
}
/** Async, the next chunk read while this one is hashed; cancellation is seen between chunks. */
async function hashLargeFile(file, pace) {
    const handle = await (0,promises_.open)(file, file_hash_READ_FLAGS);
    const buffers = [Buffer.allocUnsafe(file_hash_CHUNK_BYTES), Buffer.allocUnsafe(file_hash_CHUNK_BYTES)];
    let pending;
    try {
        const st = await handle.stat({ bigint: true });
        if (!st.isFile())
            throw new Error("it is no longer a regular file");
        const hash = (0,external_node_crypto_.createHash)("sha256");
        let which = 0;
        let position = 0;
        pending = handle.read(buffers[0], 0, file_hash_CHUNK_BYTES, 0);
        for (;;) {
            const { bytesRead } = await pending;
            pending = undefined;
            if (bytesRead === 0)
                break;
            const buf = buffers[which];
            position += bytesRead;
            which ^= 1;
            pending = handle.read(buffers[which], 0, file_hash_CHUNK_BYTES, position);
            pending.catch(() => { }); // awaited next round; a failure meanwhile must not count as unhandled
            hash.update(buf.subarray(0, bytesRead));
            const due = pace();
            if (due)
                await due;
        }
        return { sha256: hash.digest("hex"), bytes: position, dev: st.dev, ino: st.ino };
    }
    finally {
        await pending?.catch(() => { }); // a read still in flight owns a buffer and the descriptor
        await handle.close();
    }
}

;// CONCATENATED MODULE: ./src/media/snapshot-verify.ts








/** Problems named per snapshot; the count goes on (a damaged tree can have millions). */
const MAX_PROBLEMS_KEPT = 50;
/** Inodes remembered as read; past this, shared files are simply read again (memory stays bounded). */
const MAX_REMEMBERED_INODES = 2_000_000;
const NO_EXCLUDES = new ExcludeRules([]);
/**
 * Content already read and found as a manifest says, per device: inode → the first 28 bits of that
 * SHA-256. The hash is kept, not only the inode, so that a newer manifest that carries a wrong hash
 * for a linked (shared) file still fails: the inode is skipped only for the hash it was read with.
 */
class ReadInodes {
    byDevice = new Map();
    count = 0;
    has(dev, ino, sha256) {
        return this.byDevice.get(Number(dev))?.get(Number(ino)) === hashKey(sha256);
    }
    add(dev, ino, sha256) {
        if (this.count >= MAX_REMEMBERED_INODES || ino > BigInt(Number.MAX_SAFE_INTEGER))
            return;
        let inodes = this.byDevice.get(Number(dev));
        if (!inodes) {
            inodes = new Map();
            this.byDevice.set(Number(dev), inodes);
        }
        if (!inodes.has(Number(ino)))
            this.count++;
        inodes.set(Number(ino), hashKey(sha256));
    }
}
const hashKey = (sha256) => Number.parseInt(sha256.slice(0, 7), 16);
/** Whether the subset reads this file: a percentage at random, a slice by the first 4 hex digits of its hash. */
function inSubset(subset, sha256) {
    if (subset.kind === "percent")
        return subset.percent >= 100 || Math.random() * 100 < subset.percent;
    return Number.parseInt(sha256.slice(0, 4), 16) % subset.of === subset.n - 1;
}
/** Types that a snapshot records but never holds in its tree, when the backup skipped or could not read them. */
/** Only a backup run as root stores the source's owners; otherwise the tree's files are the runner's. */
const AS_ROOT = process.getuid?.() === 0;
const neverCopied = (m) => m.type !== "dir" && (m.state === "skipped" || m.state === "unreadable");
/**
 * Verifies one snapshot: its manifest against the sidecar checksum, and its tree merge-joined against
 * the manifest in one pass in walk order (memory bounded by the largest directory): missing and extra
 * entries, types, sizes, symlink targets, and the SHA-256 of the files in the subset.
 */
async function verifySnapshot(ref, newest, ctx) {
    const problems = [];
    let problemCount = 0;
    let failed = false;
    let incomplete = false;
    let filesChecked = 0;
    let filesNotRead = 0;
    let bytesRead = 0;
    const treeDir = external_node_path_default().join(ref.dir, TREE_DIR);
    const tree = toBinary(treeDir);
    const note = (rel, what, fails = true) => {
        problemCount++;
        if (fails)
            failed = true;
        const where = rel === undefined ? ref.name : `${ref.name}/${TREE_DIR}/${rel === "" ? "" : showPath(rel)}`;
        if (problems.length < MAX_PROBLEMS_KEPT)
            problems.push(`${where}: ${what}`);
    };
    const result = () => ({
        name: ref.name,
        takenAt: ref.takenAt,
        ok: !failed,
        problems,
        problemCount,
        incomplete,
        filesChecked,
        bytesRead,
        filesNotRead,
    });
    let expected;
    try {
        expected = await readManifestSum(ref.dir);
    }
    catch (err) {
        note(undefined, err.message); // the tree is still checked against the manifest below
    }
    const file = external_node_path_default().join(ref.dir, MANIFEST_FILE);
    let reader;
    try {
        reader = ManifestReader.open(file);
    }
    catch (err) {
        note(undefined, err instanceof ManifestError
            ? err.message
            : `The manifest ${file} cannot be read: ${err.message}`);
        return result();
    }
    let walk;
    try {
        // lstat first: walkTree lists its root even when it is a symlink, and a snapshot's tree/ never is one.
        if ((0,external_node_fs_.lstatSync)(treeDir).isDirectory())
            walk = new TreeWalk(tree, NO_EXCLUDES).entries();
        else
            note(undefined, `${treeDir} is not a directory; the snapshot's files are not there`);
    }
    catch (err) {
        note(undefined, `${treeDir} cannot be read: ${err.message}`);
    }
    const missing = (m) => {
        if (!neverCopied(m))
            note(m.path, `is in the manifest (${m.type}) but missing from the tree`);
    };
    const readContent = async (w, m, size) => {
        const rel = w.path;
        const sha256 = m.sha256; // the reader refuses a stored file without one
        if (!inSubset(ctx.subset, sha256)) {
            filesNotRead++;
            return;
        }
        if (ctx.inodes.has(w.stats.dev, w.stats.ino, sha256)) {
            filesNotRead++;
            return;
        }
        let read;
        try {
            read = size <= SMALL_FILE_BYTES ? hashSmallFile(w.at) : await hashLargeFile(w.at, ctx.pace);
        }
        catch (err) {
            note(rel, `cannot be read: ${err.message}`);
            return;
        }
        filesChecked++;
        bytesRead += read.bytes;
        ctx.progress.bytesRead += read.bytes;
        if (read.sha256 === sha256)
            ctx.inodes.add(read.dev, read.ino, sha256);
        else {
            note(rel, `its content does not match the manifest (sha256 ${read.sha256}, ${read.bytes} bytes; the manifest says ` +
                `${sha256}, ${m.size} bytes): this copy is damaged; restore the file from another snapshot`);
        }
    };
    // `cp -a current/tree/.` restores the tree's own metadata: it must be what the manifest recorded.
    const checkMetadata = (w, m) => {
        const mode = Number(w.stats.mode) & 0o7777;
        const octal = (n) => n.toString(8).padStart(4, "0");
        if (mode !== m.mode)
            note(w.path, `has mode ${octal(mode)} in the tree; the manifest says ${octal(m.mode)}`);
        const off = w.stats.mtimeNs / 1000n - m.mtimeNs / 1000n;
        // Files only: a directory's mtime moves with any change inside it, named on its own already.
        if (w.type === "file" && (off > 1n || off < -1n)) {
            note(w.path, `has mtime ${w.stats.mtimeNs} ns in the tree; the manifest says ${m.mtimeNs} ns`);
        }
        if (AS_ROOT && (Number(w.stats.uid) !== m.uid || Number(w.stats.gid) !== m.gid)) {
            note(w.path, `is owned by ${w.stats.uid}:${w.stats.gid} in the tree; the manifest says ${m.uid}:${m.gid}`);
        }
    };
    const compare = async (m, w) => {
        if (isWalkError(w)) {
            note(w.path, `cannot be examined in the tree: ${w.error.message}`);
            return;
        }
        if (m === undefined) {
            note(w.path, `is in the tree (${w.type}) but not in the manifest`);
            return;
        }
        if (neverCopied(m)) {
            note(w.path, `is in the tree although the manifest records it as ${m.state} (never copied)`);
            return;
        }
        if (w.type !== m.type) {
            note(w.path, `is a ${w.type} in the tree; the manifest says ${m.type}`);
            return;
        }
        if (w.listError)
            note(w.path, `the directory cannot be listed: ${w.listError.message}`);
        if (w.type === "file" || w.type === "dir")
            checkMetadata(w, m);
        if (w.type === "symlink") {
            try {
                const target = (0,external_node_fs_.readlinkSync)(w.at, { encoding: "buffer" }).toString("latin1");
                if (target !== m.target) {
                    note(w.path, `points at '${showPath(target)}'; the manifest says '${showPath(m.target ?? "")}'`);
                }
            }
            catch (err) {
                note(w.path, `cannot be read: ${err.message}`);
            }
        }
        else if (w.type === "file") {
            const size = Number(w.stats.size);
            if (size !== m.size)
                note(w.path, `is ${size} bytes; the manifest says ${m.size}`);
            else
                await readContent(w, m, size);
        }
    };
    try {
        let entries = 0;
        const next = () => {
            const e = reader.next();
            if (e) {
                entries++;
                ctx.progress.entries++;
            }
            return e;
        };
        let m = next();
        for (const w of walk ?? []) {
            const due = ctx.pace();
            if (due)
                await due;
            while (m && compareRelPaths(m.path, w.path) < 0) {
                missing(m);
                m = next();
            }
            if (m && m.path === w.path) {
                await compare(m, w);
                m = next();
            }
            else
                await compare(undefined, w);
        }
        for (; m; m = next()) {
            if (walk)
                missing(m); // without a tree, one problem says so, not one per entry
            const due = ctx.pace();
            if (due)
                await due;
        }
        if (expected !== undefined && reader.digest() !== expected) {
            note(undefined, `The manifest ${file} does not match its checksum (${external_node_path_default().basename(file)}.sha256 says ${expected}): it was ` +
                "changed or damaged after the snapshot was taken; use another snapshot");
        }
        if (reader.header.snapshot !== ref.name) {
            note(undefined, `The manifest ${file} is the manifest of ${reader.header.snapshot}, not of this snapshot`);
        }
        const { totals } = reader;
        if (totals.entries !== entries) {
            note(undefined, `The manifest ${file} lists ${entries} entries; its totals say ${totals.entries}`);
        }
        if (totals.errors > 0) {
            incomplete = true;
            // An old incomplete snapshot is one retention will remove; only the newest one is the backup that counts.
            note(undefined, `incomplete: the backup could not read ${totals.errors} entr${totals.errors === 1 ? "y" : "ies"} of the source ` +
                `(named in its manifest and the backup's log)${newest ? "; it is the newest snapshot, so the latest backup is not whole" : "; a newer snapshot supersedes it"}`, newest);
        }
    }
    catch (err) {
        if (!(err instanceof ManifestError))
            throw err;
        note(undefined, err.message); // nothing after a line that cannot be trusted is checked
    }
    finally {
        reader.close();
    }
    return result();
}

;// CONCATENATED MODULE: ./src/media/remote-verify.ts










/**
 * Verifies every complete media snapshot in one bucket: the sums file, the manifest, index and objects
 * list against it, every file of the manifest present in the index with its size, every data object
 * the snapshot uses present with the size it was stored with, and the contents in `subset` downloaded
 * (by byte range) and hashed again.
 */
async function verifyRemoteMedia(remote, options) {
    const { logger, signal } = options;
    let listing;
    let data;
    try {
        listing = await listRemoteSnapshots(remote);
        data = new Map((await remote.data.list()).filter((o) => isDataName(o.name)).map((o) => [o.name, o.sizeBytes]));
    }
    catch (err) {
        logger.error(`verify media ${remote.location}: cannot be listed: ${(0,destination_error/* briefly */.m_)(err)}`);
        return {
            kind: remote.kind,
            location: remote.location,
            snapshots: [],
            unfinished: [],
            newestAgeHours: undefined,
            error: (0,destination_error/* briefly */.m_)(err),
        };
    }
    const checked = new Set();
    const snapshots = [];
    for (const ref of listing.snapshots.filter((s) => s.complete)) {
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media verification was cancelled");
        const problems = [];
        let problemCount = 0;
        const problem = (text) => {
            problemCount++;
            if (problems.length < MAX_PROBLEMS_KEPT)
                problems.push(`${ref.name}: ${text}`);
        };
        let contentsChecked = 0;
        let contentsNotRead = 0;
        let bytesRead = 0;
        let incomplete = false;
        try {
            const objects = await readObjectsFile(remote, ref);
            for (const [name, bytes] of objects.objects) {
                const stored = data.get(name);
                if (stored === undefined)
                    problem(`the data object ${remote.data.uri(name)} it uses is missing: backup-media --full lists the bucket and uploads it again`);
                else if (stored !== bytes)
                    problem(`${remote.data.uri(name)} is ${stored} bytes; the snapshot stored ${bytes}`);
            }
            const staged = await stageRemoteSnapshot(remote, ref, {
                keyring: options.keyring,
                signal,
                stallMs: options.stallMs,
            });
            try {
                for (const [name, bytes] of staged.index.objects()) {
                    if (objects.objects.get(name) !== bytes)
                        problem(`the index names ${name} (${bytes} bytes), the objects list does not`);
                }
                const toRead = [];
                const { totals } = await readWholeManifest(staged.dir, (e) => {
                    if (e.type !== "file" || e.sha256 === undefined || e.state === "unreadable")
                        return;
                    const at = staged.index.get(e.sha256);
                    if (!at)
                        return problem(`${showPath(e.path)}: its content (sha256 ${e.sha256}) is not in the index`);
                    if (at.length !== e.size)
                        return problem(`${showPath(e.path)}: the index records ${at.length} bytes, the manifest ${e.size}`);
                    if (!objects.objects.has(at.object))
                        return problem(`${showPath(e.path)}: its object ${at.object} is not in the objects list`);
                    // Each stored copy is read once per run: the same content in another object is another copy.
                    const copy = `${at.object}:${at.offset}:${at.length}`;
                    if (checked.has(copy))
                        return;
                    checked.add(copy);
                    if (inSubset(options.subset, e.sha256))
                        toRead.push({ entry: e });
                    else
                        contentsNotRead++;
                });
                incomplete = totals.errors > 0;
                for (const { entry } of toRead) {
                    (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media verification was cancelled");
                    const hash = (0,external_node_crypto_.createHash)("sha256");
                    let bytes = 0;
                    try {
                        for await (const chunk of (await staged.content(entry, signal))) {
                            hash.update(chunk);
                            bytes += chunk.length;
                            if (bytes > entry.size)
                                break;
                        }
                        const sha = hash.digest("hex");
                        if (bytes !== entry.size || sha !== entry.sha256) {
                            problem(`${showPath(entry.path)}: its content in the bucket is damaged (${bytes} bytes, sha256 ${sha}; the manifest says ${entry.size} bytes, ${entry.sha256})`);
                        }
                    }
                    catch (err) {
                        if (signal?.aborted)
                            throw err;
                        problem(`${showPath(entry.path)}: its content cannot be read: ${(0,destination_error/* briefly */.m_)(err)}`);
                    }
                    contentsChecked++;
                    bytesRead += bytes;
                }
            }
            finally {
                staged.dispose();
            }
        }
        catch (err) {
            if (signal?.aborted)
                throw err;
            problem((0,destination_error/* briefly */.m_)(err));
        }
        const check = {
            name: ref.name,
            takenAt: ref.takenAt,
            ok: problemCount === 0,
            problems,
            problemCount,
            incomplete,
            contentsChecked,
            bytesRead,
            contentsNotRead,
        };
        const counts = `${contentsChecked} contents read (${bytesRead} bytes), ${contentsNotRead} not read`;
        if (check.ok)
            logger.info(`verify media ${remote.location}${ref.name}: OK, ${counts}`);
        else {
            logger.error(`verify media ${remote.location}${ref.name}: FAILED, ${problemCount} problem(s); ${counts}`);
            for (const p of problems)
                logger.error(`verify media ${remote.location}${p}`);
        }
        snapshots.push(check);
    }
    const newest = snapshots.find((s) => s.ok && !s.incomplete);
    return {
        kind: remote.kind,
        location: remote.location,
        snapshots,
        unfinished: listing.snapshots.filter((s) => !s.complete).map((s) => s.name),
        newestAgeHours: newest ? (options.now.getTime() - newest.takenAt.getTime()) / 3_600_000 : undefined,
    };
}

;// CONCATENATED MODULE: ./src/media/verify-media.ts












/** The runbook's exit codes, as for the database backups: 1 (a failure) wins over 2 (too old or none). */
const MEDIA_VERIFY_EXIT = { ok: 0, failures: 1, tooOldOrMissing: 2 };
/** How far ahead of this host's clock a snapshot's name may be dated (clock skew), as for databases. */
const verify_media_FUTURE_TOLERANCE_HOURS = 1;
/** How often the sync parts yield to the event loop (signals, progress). */
const verify_media_YIELD_EVERY_MS = 50;
const CANCELLED = "The media verification was cancelled";
/**
 * Verifies every media snapshot in MEDIA_BACKUP_DIR (backup-media --verify-only, verify --media): each
 * manifest against its checksum, each tree against its manifest, the content of the files in the
 * subset (a file shared by hard links is read once); that `current` names a good snapshot; and the
 * newest complete snapshot's age. Exit 1 for any failure, else 2 when none or too old, else 0.
 */
async function verifyMedia(config, options) {
    const { logger, signal } = options;
    const now = options.now ?? (() => new Date());
    const started = now();
    const startedMs = Date.now();
    const { refs, missingDir } = list(config.backupDir);
    const progress = { entries: 0, bytesRead: 0 };
    let position = { snapshot: "", index: 0 };
    let lastYield = Date.now();
    let lastProgress = Date.now();
    const pause = async () => {
        await (0,external_node_timers_promises_.setImmediate)();
        lastYield = Date.now();
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, CANCELLED);
        if (options.onProgress && Date.now() - lastProgress >= 1000) {
            lastProgress = Date.now();
            options.onProgress({
                ...position,
                snapshots: refs.length,
                ...progress,
                elapsedSeconds: (Date.now() - startedMs) / 1000,
            });
        }
    };
    const ctx = {
        subset: config.subset,
        inodes: new ReadInodes(),
        progress,
        pace: () => (Date.now() - lastYield >= verify_media_YIELD_EVERY_MS ? pause() : undefined),
    };
    const snapshots = [];
    for (const [i, ref] of refs.entries()) {
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, CANCELLED);
        position = { snapshot: ref.name, index: i + 1 };
        const check = await verifySnapshot(ref, i === 0, ctx);
        // Retention (a backup run) may remove an old snapshot while it is read: gone is not damaged.
        if (!check.ok && !(0,external_node_fs_.existsSync)(ref.dir)) {
            logger.info(`verify media ${ref.name}: removed while it was verified (retention); not counted`);
            continue;
        }
        logCheck(check, logger);
        snapshots.push(check);
    }
    (0,shared_errors/* throwIfCancelled */.dZ)(signal, CANCELLED); // a cancelled run is never a success, and records no metrics
    const remotes = await verifyRemotes(config, { logger, signal, now });
    (0,shared_errors/* throwIfCancelled */.dZ)(signal, CANCELLED);
    const at = now();
    const reasons = [];
    // A name dated ahead of the clock would pass as fresh for years: it fails, and never counts as newest.
    const latestCredible = at.getTime() + verify_media_FUTURE_TOLERANCE_HOURS * 3_600_000;
    const judged = snapshots.map((c) => (c.takenAt.getTime() > latestCredible ? inFuture(c, at) : c));
    const failed = judged.filter((c) => !c.ok);
    if (failed.length) {
        reasons.push(`${failed.length} of ${judged.length} media snapshot(s) failed verification: ${failed.map((c) => c.name).join(", ")}`);
    }
    const current = readCurrent(config.backupDir);
    const currentProblem = judgeCurrent(config.backupDir, current, judged);
    if (currentProblem)
        reasons.push(currentProblem);
    const newest = judged.find((c) => c.ok && !c.incomplete);
    const newestAgeHours = newest ? (at.getTime() - newest.takenAt.getTime()) / 3_600_000 : undefined;
    if (!judged.length && missingDir && remotes.length > 0) {
        logger.info(`verify media: MEDIA_BACKUP_DIR ${config.backupDir} does not exist here; the buckets' snapshots are verified`);
    }
    else if (!judged.length) {
        reasons.push(missingDir
            ? `MEDIA_BACKUP_DIR ${config.backupDir} does not exist: no media snapshot to verify`
            : `no media snapshot in ${config.backupDir}`);
    }
    else if (!newest) {
        reasons.push(`no complete media snapshot in ${config.backupDir} verified OK`);
    }
    else if (newestAgeHours > config.maxAgeHours) {
        reasons.push(`the newest complete media snapshot ${newest.name} is ${newestAgeHours.toFixed(1)} h old, ` +
            `over the ${config.maxAgeHours} h limit: check that backup-media runs`);
    }
    let remoteFailed = false;
    for (const r of remotes) {
        const bad = r.snapshots.filter((c) => !c.ok);
        if (r.error)
            reasons.push(`${r.location} could not be verified: ${r.error}`);
        if (bad.length)
            reasons.push(`${bad.length} of ${r.snapshots.length} media snapshot(s) in ${r.location} failed verification: ${bad.map((c) => c.name).join(", ")}`);
        if (r.error || bad.length)
            remoteFailed = true;
        else if (r.newestAgeHours === undefined)
            reasons.push(`no complete media snapshot in ${r.location} verified OK`);
        else if (r.newestAgeHours > config.maxAgeHours) {
            reasons.push(`the newest complete media snapshot in ${r.location} is ${r.newestAgeHours.toFixed(1)} h old, over the ${config.maxAgeHours} h limit`);
        }
    }
    const exitCode = failed.length || currentProblem || remoteFailed
        ? MEDIA_VERIFY_EXIT.failures
        : reasons.length
            ? MEDIA_VERIFY_EXIT.tooOldOrMissing
            : MEDIA_VERIFY_EXIT.ok;
    for (const r of reasons)
        (exitCode === 1 ? logger.error : logger.warn).call(logger, `verify media: ${r}`);
    logger.info(`verify media: ${judged.length - failed.length} of ${judged.length} snapshot(s) OK, exit ${exitCode}`);
    const finishedAt = now();
    const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
    const metrics = await publishMetrics(config.metrics, { type: "media" }, verifySamples("media", { ok: exitCode === 0, exitCode, finishedAt, durationSeconds, newestAgeHours }), logger, signal);
    return {
        backupDir: config.backupDir,
        snapshots: judged,
        current: current.name,
        newestAgeHours,
        maxAgeHours: config.maxAgeHours,
        exitCode,
        reasons,
        durationSeconds,
        remotes,
        metrics,
    };
}
/** Every configured bucket, one after another (each reads its own objects), with the key if one is given. */
async function verifyRemotes(config, o) {
    const sources = config.remotes ?? [];
    if (sources.length === 0)
        return [];
    const keyring = await GpgDecryptKeyring.prepare(config.gpgPrivateKey);
    try {
        const out = [];
        for (const source of sources) {
            const remote = await openMediaRemote(source.destination, source.prefix, o.logger, o.signal);
            out.push(await verifyRemoteMedia(remote, {
                subset: config.subset,
                keyring,
                logger: o.logger,
                signal: o.signal,
                now: o.now(),
                stallMs: source.destination.settings.transfer.requestTimeoutMs,
            }));
        }
        return out;
    }
    finally {
        await keyring.dispose();
    }
}
/** The snapshots, newest first; a missing MEDIA_BACKUP_DIR is "no snapshot" (exit 2), anything else an error. */
function list(backupDir) {
    try {
        return { refs: listSnapshots(backupDir), missingDir: false };
    }
    catch (err) {
        if (err.code === "ENOENT")
            return { refs: [], missingDir: true };
        throw new shared_errors/* UserError */.yo(`MEDIA_BACKUP_DIR ${backupDir} cannot be listed: ${err.message}. Set it to the directory that holds the media snapshots`, { cause: err });
    }
}
function inFuture(c, at) {
    const problem = `${c.name}: dated ${c.takenAt.toISOString()}, ahead of this host's clock (${at.toISOString()}): a wrong clock ` +
        "where it was taken, or a renamed directory; it does not count as the newest snapshot — fix the clock or remove it";
    return { ...c, ok: false, problems: [problem, ...c.problems], problemCount: c.problemCount + 1 };
}
/** Why `current` is wrong, or undefined: it must name a snapshot that is there and verified OK. */
function judgeCurrent(backupDir, current, checks) {
    const link = external_node_path_default().join(backupDir, CURRENT_LINK);
    const fix = `point it at the newest good snapshot (ln -sfn <snapshot> ${link}), or run backup-media`;
    if (current.problem)
        return `${current.problem}; ${fix}`;
    if (current.name === undefined)
        return checks.length ? `${link} does not exist; ${fix}` : undefined;
    const named = checks.find((c) => c.name === current.name);
    if (!named)
        return `${link} points at ${current.name}, which is not a snapshot in ${backupDir}; ${fix}`;
    if (!named.ok)
        return `${link} points at ${current.name}, which failed verification; ${fix}`;
    return undefined;
}
function logCheck(c, logger) {
    const counts = `${c.filesChecked} files read (${c.bytesRead} bytes), ${c.filesNotRead} not read`;
    if (c.ok) {
        logger.info(`verify media ${c.name}: OK, ${counts}`);
        for (const p of c.problems)
            logger.warn(`verify media ${p}`);
        return;
    }
    logger.error(`verify media ${c.name}: FAILED, ${c.problemCount} problem(s); ${counts}`);
    for (const p of c.problems)
        logger.error(`verify media ${p}`);
    if (c.problemCount > c.problems.length) {
        logger.error(`verify media ${c.name}: … and ${c.problemCount - c.problems.length} more`);
    }
}

;// CONCATENATED MODULE: ./src/media/verify-media-summary.ts

/**
 * The job summary (and the CLI's report) of a media verify run: the verdict and its reasons, a row per
 * snapshot, and the problems each failed snapshot named. Every name is escaped: core.summary does not.
 */
function verifyMediaSummary(report) {
    const good = report.snapshots.filter((s) => s.ok).length;
    const icon = report.exitCode === 0 ? "✅" : "❌";
    const age = report.newestAgeHours === undefined
        ? "no complete snapshot verified OK"
        : `newest complete snapshot ${formatAge(report.newestAgeHours)} old (limit ${report.maxAgeHours} h)`;
    const lines = [
        `## ${icon} Lifeline verify media: ${good} of ${report.snapshots.length} snapshots good, exit ${report.exitCode}`,
        "",
        `\`${markdown_cell(report.backupDir)}\`: current → ${markdown_cell(report.current ?? "none")}; ${age}; ` +
            `${markdown_formatDuration(report.durationSeconds)}`,
        "",
        ...(report.reasons.length ? [report.reasons.map((r) => `- ${markdown_cell(r)}`).join("\n"), ""] : []),
    ];
    lines.push(...remoteSection(report));
    if (!report.snapshots.length) {
        lines.push(report.remotes.length ? "No local media snapshots found." : "No media snapshots found.", "");
        return lines.join("\n");
    }
    lines.push(markdown_table(["Snapshot", "Taken", "Result", "Files read", "Not read", "Bytes read", "Problems"], report.snapshots.map((s) => [
        s.name,
        s.takenAt.toISOString(),
        s.ok ? (s.incomplete ? "✅ OK (incomplete)" : "✅ OK") : "❌ FAILED",
        s.filesChecked,
        s.filesNotRead,
        formatBytes(s.bytesRead),
        s.problemCount,
    ])), "");
    for (const s of report.snapshots.filter((x) => x.problems.length)) {
        lines.push(`### ${s.ok ? "⚠️" : "❌"} ${markdown_cell(s.name)}`, "", s.problems.map((p) => `- ${markdown_cell(p)}`).join("\n"), ...(s.problemCount > s.problems.length
            ? [`- … and ${s.problemCount - s.problems.length} more (see the log)`]
            : []), "");
    }
    return lines.join("\n");
}
/** One table of every bucket's snapshots, and the problems the failed ones named. */
function remoteSection(report) {
    if (!report.remotes.length)
        return [];
    const rows = report.remotes.flatMap((r) => r.error
        ? [[r.location, "—", "❌ cannot be read", 0, 0, "—", 1]]
        : r.snapshots.map((s) => [
            r.location,
            s.name,
            s.ok ? (s.incomplete ? "✅ OK (incomplete)" : "✅ OK") : "❌ FAILED",
            s.contentsChecked,
            s.contentsNotRead,
            formatBytes(s.bytesRead),
            s.problemCount,
        ]));
    const lines = [
        "### Buckets",
        "",
        markdown_table(["Bucket", "Snapshot", "Result", "Contents read", "Not read", "Bytes read", "Problems"], rows),
        "",
    ];
    for (const r of report.remotes) {
        if (r.unfinished.length)
            lines.push(`- ${markdown_cell(r.location)}: unfinished uploads (no sums file, not counted): ${markdown_cell(r.unfinished.join(", "))}`, "");
        for (const s of r.snapshots.filter((x) => x.problems.length)) {
            lines.push(`#### ❌ ${markdown_cell(r.location)}${markdown_cell(s.name)}`, "", s.problems.map((p) => `- ${markdown_cell(p)}`).join("\n"), "");
        }
    }
    return lines;
}
/** A media verify run's report as `--json` prints it (dates as ISO strings). */
function verifyMediaJson(report) {
    return `${JSON.stringify(report, null, 2)}\n`;
}

;// CONCATENATED MODULE: ./src/cli/verify-media-run.ts





/** verify --media and backup-media --verify-only: the report on stdout, the reasons on stderr, the runbook's code. */
async function runVerifyMedia(lookup, io) {
    const progress = terminalProgress(process.stderr);
    let report;
    try {
        report = await verifyMedia(loadVerifyMediaConfig(lookup), {
            logger: io.logger,
            signal: io.signal,
            onProgress: (p) => progress.update(describeVerifyProgress(p)),
        });
    }
    finally {
        progress.done();
    }
    for (const reason of report.reasons)
        io.logger.error(reason);
    io.out.write(io.json ? verifyMediaJson(report) : verifyMediaSummary(report));
    return report.exitCode;
}

;// CONCATENATED MODULE: ./src/cli/backup-media-command.ts








const BACKUP_MEDIA_HELP = `Usage: lifeline backup-media [options]

Takes a snapshot of MEDIA_SOURCE_DIR into MEDIA_BACKUP_DIR/media_<UTC time> (runbook: backup_media.sh):
a plain directory tree (restore with cp -a, or lifeline restore --media) with a manifest of every
entry's path, type, mode, owner, size, mtime and SHA-256. Incremental by default: a file unchanged
since the previous snapshot (same size, mtime, ctime and inode) is hard-linked to it and not read
again. The snapshot appears, and MEDIA_BACKUP_DIR/current moves to it, only when complete; then
snapshots older than MEDIA_RETENTION_DAYS are removed (never the newest complete one). With a bucket
configured (BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET, BACKUP_AZURE_CONTAINER), the snapshot is then copied
to each under MEDIA_REMOTE_PREFIX: only contents the bucket lacks, small files packed, the snapshot's
sums written last; each bucket gets the same retention, and unused data is collected after
MEDIA_GC_GRACE_HOURS. Restore from a bucket with lifeline restore --media --media-from s3|gcs|azure. With
--verify-only, verifies the snapshots instead, as \`lifeline verify --media\` does.
Every option can also be given by its environment variable; a flag wins over the variable.

  lifeline backup-media
  lifeline backup-media --full
  lifeline backup-media --verify-only --read-data-subset 10%

Options:
${settingsHelp(BACKUP_MEDIA_SETTINGS)}
  --json                         print the result as JSON on stdout
  --help                         show this help

Exit status: 0 snapshot written (verify-only: all good); 1 failed, or written but some files could not
be read (named; the snapshot holds the rest; verify-only: a snapshot failed verification); 2
verify-only: newest snapshot too old or none; ${COMMON_EXIT_HELP}
`;
const COMMAND = { settings: BACKUP_MEDIA_SETTINGS, switches: ["json"], help: BACKUP_MEDIA_HELP };
/** `lifeline backup-media`: returns the exit code. */
const backupMediaCommand = async (argv, logger, signal, out, record) => {
    record.type = "media";
    const started = startCommand(argv, COMMAND, { logger, out, record });
    if (!started)
        return 0;
    const { lookup, switches } = started;
    if (settings_require(BACKUP_MEDIA_SETTINGS.verifyOnly, lookup)) {
        record.kind = "verify"; // --verify-only is verify --media: verify's metrics, failed or not
        return runVerifyMedia(lookup, { logger, signal, out, json: switches.json === true });
    }
    const progress = terminalProgress(process.stderr);
    let result;
    try {
        result = await backupMedia(loadBackupMediaConfig(lookup), {
            logger,
            signal,
            onProgress: (p) => progress.update(describeBuildProgress(p)),
            onUploadProgress: (p) => progress.update(describeOffsiteProgress(p)),
        });
    }
    finally {
        progress.done();
    }
    out.write(switches.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.snapshotDir}\n`);
    for (const o of result.offsite.filter((r) => !r.ok)) {
        logger.error(`Off-site copy to ${o.location} failed (${o.stage}): ${o.error}`);
    }
    if (result.totals.errors > 0) {
        logger.error(`The snapshot ${result.snapshot} was published without ${result.totals.errors} entr${result.totals.errors === 1 ? "y" : "ies"} that could not be read: ` +
            result.problems.unreadable.join(", "));
    }
    return result.exitCode;
};

;// CONCATENATED MODULE: ./src/storage/lifecycle.ts
/** Backups are far bigger than this; sidecars and manifests far smaller (they must stay readable). */
const SIDECAR_MAX_BYTES = 128 * 1024;
const monthlyPrefix = (o) => `${o.keyPrefix}${o.backupPrefix}_monthly_`;
/** `aws s3api put-bucket-lifecycle-configuration --lifecycle-configuration file://s3-lifecycle.json` */
function s3Lifecycle(o) {
    return {
        Rules: [
            {
                ID: "lifeline-abort-incomplete-multipart-uploads",
                Status: "Enabled",
                Filter: { Prefix: o.keyPrefix },
                AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
            },
            {
                ID: "lifeline-monthly-to-colder-class",
                Status: "Enabled",
                // Size filter: the .sha256 and .manifest.json beside each backup stay readable at once.
                Filter: { And: { Prefix: monthlyPrefix(o), ObjectSizeGreaterThan: SIDECAR_MAX_BYTES } },
                Transitions: [{ Days: o.transitionDays, StorageClass: o.s3Class }],
            },
        ],
    };
}
/** `gcloud storage buckets update gs://BUCKET --lifecycle-file=gcs-lifecycle.json` */
function gcsLifecycle(o) {
    return {
        rule: [
            {
                action: { type: "AbortIncompleteMultipartUpload" },
                condition: { age: 1, matchesPrefix: [o.keyPrefix] },
            },
            {
                action: { type: "SetStorageClass", storageClass: o.gcsClass },
                condition: {
                    age: o.transitionDays,
                    matchesPrefix: [monthlyPrefix(o)],
                    // Data objects only: sidecars end in .sha256, manifests in .json.
                    matchesSuffix: [".sql", ".sql.gz", ".sql.zst", ".dump", ".gpg"],
                },
            },
        ],
    };
}
/**
 * `az storage account management-policy create --account-name ACCOUNT --policy @azure-lifecycle.json`.
 * Uncommitted blocks of failed uploads are dropped by Azure itself after 7 days; Azure filters cannot
 * skip small blobs, so the default tier stays online (Cold), never Archive, or sidecars turn unreadable.
 */
function azureLifecycle(o) {
    const tierAction = `tierTo${o.azureTier}`;
    return {
        rules: [
            {
                enabled: true,
                name: "lifeline-monthly-to-colder-tier",
                type: "Lifecycle",
                definition: {
                    actions: { baseBlob: { [tierAction]: { daysAfterModificationGreaterThan: o.transitionDays } } },
                    filters: { blobTypes: ["blockBlob"], prefixMatch: [`${o.azureContainer}/${monthlyPrefix(o)}`] },
                },
            },
        ],
    };
}

;// CONCATENATED MODULE: ./src/cli/lifecycle-command.ts









const LIFECYCLE_SETTINGS = {
    databaseUrl: { ...BACKUP_DB_SETTINGS.databaseUrl, description: "used only for the database name (prefix)" },
    prefix: BACKUP_DB_SETTINGS.prefix,
    ...CLOUD_SETTINGS,
    transitionDays: {
        env: "BACKUP_LIFECYCLE_TRANSITION_DAYS",
        input: "transition-days",
        description: "age in days at which monthly backups move to the colder class",
        default: "30",
        parse: integerIn(1, 3650, " (days)"),
    },
    s3MonthlyClass: {
        env: "BACKUP_LIFECYCLE_S3_CLASS",
        input: "s3-monthly-class",
        description: "S3 class for monthly backups (GLACIER_IR restores at once; GLACIER needs a restore first)",
        default: "GLACIER_IR",
        parse: choiceOf(S3_STORAGE_CLASSES),
    },
    gcsMonthlyClass: {
        env: "BACKUP_LIFECYCLE_GCS_CLASS",
        input: "gcs-monthly-class",
        description: "GCS class for monthly backups",
        default: "COLDLINE",
        parse: choiceOf(GCS_STORAGE_CLASSES),
    },
    azureMonthlyTier: {
        env: "BACKUP_LIFECYCLE_AZURE_TIER",
        input: "azure-monthly-tier",
        description: "Azure tier for monthly backups (Cool or Cold: Archive would make sidecars unreadable)",
        default: "Cold",
        parse: choiceOf(AZURE_TIERS.filter((t) => t !== "Archive" && t !== "Hot")),
    },
};
const LIFECYCLE_HELP = `Usage: lifeline lifecycle [options] [--apply]

Prints the bucket lifecycle policies that go with Lifeline's retention (runbook: "Configure lifecycle
policy") for every configured destination (BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET, BACKUP_AZURE_CONTAINER):
abort incomplete multipart uploads after 1 day, and move monthly backups to a colder class after
--transition-days. They never expire backups: Lifeline's retention deletes them, with its safety rules.
With --apply, sets them on S3 and GCS buckets (replacing the bucket's existing rules); Azure policies
belong to the storage account's management plane: apply the printed JSON with the az command shown.

Options:
${settingsHelp(LIFECYCLE_SETTINGS)}
  --apply                        set the policies on the buckets (S3, GCS)
  --help                         show this help

Exit status: 0 printed (and applied); 1 failed; ${COMMON_EXIT_HELP}
`;
const LIFECYCLE_COMMAND = { settings: LIFECYCLE_SETTINGS, switches: ["apply"], help: LIFECYCLE_HELP };
function lifecycleOptions(lookup, container) {
    const s = LIFECYCLE_SETTINGS;
    let backupPrefix = resolve(s.prefix, lookup);
    if (backupPrefix === undefined) {
        const url = resolve(s.databaseUrl, lookup);
        if (url === undefined) {
            throw new shared_errors/* ConfigError */.xL("lifecycle needs the backups' name prefix to target monthly backups: set BACKUP_PREFIX (--prefix) or DATABASE_URL");
        }
        backupPrefix = parseDatabaseUrl(url).database;
        if (backupPrefix === undefined) {
            throw new shared_errors/* ConfigError */.xL("DATABASE_URL names no database: set BACKUP_PREFIX (--prefix) to the backups' name prefix");
        }
    }
    return {
        keyPrefix: settings_require(s.remotePrefix, lookup),
        backupPrefix,
        transitionDays: settings_require(s.transitionDays, lookup),
        s3Class: settings_require(s.s3MonthlyClass, lookup),
        gcsClass: settings_require(s.gcsMonthlyClass, lookup),
        azureTier: settings_require(s.azureMonthlyTier, lookup),
        azureContainer: container,
    };
}
/** `lifeline lifecycle`: prints (and with --apply, sets) lifecycle policies. Returns the exit code. */
const lifecycleCommand = async (argv, logger, _signal, out) => {
    const started = startCommand(argv, LIFECYCLE_COMMAND, { logger, out });
    if (!started)
        return 0;
    const { lookup, switches } = started;
    const destinations = loadDestinations(lookup);
    if (destinations.length === 0) {
        throw new shared_errors/* ConfigError */.xL("No destination is configured: set BACKUP_S3_BUCKET, BACKUP_GCS_BUCKET or BACKUP_AZURE_CONTAINER (or their flags)");
    }
    for (const d of destinations) {
        const options = lifecycleOptions(lookup, d.kind === "azure" ? d.settings.container : "");
        if (d.kind === "s3") {
            const policy = s3Lifecycle(options);
            out.write(`# S3 s3://${d.settings.bucket}: aws s3api put-bucket-lifecycle-configuration --bucket ${d.settings.bucket} --lifecycle-configuration file://s3-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`);
            if (switches.apply) {
                const { S3Store } = await Promise.all(/* import() */[__nccwpck_require__.e(358), __nccwpck_require__.e(947)]).then(__nccwpck_require__.bind(__nccwpck_require__, 8947));
                const store = new S3Store(d.settings, logger);
                await store.applyLifecycle(policy);
                logger.info(`Applied the lifecycle configuration to s3://${d.settings.bucket} (${(await store.lifecycleRules()).length} rules now)`);
            }
        }
        else if (d.kind === "gcs") {
            const policy = gcsLifecycle(options);
            out.write(`# GCS gs://${d.settings.bucket}: gcloud storage buckets update gs://${d.settings.bucket} --lifecycle-file=gcs-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`);
            if (switches.apply) {
                const { GcsStore } = await Promise.all(/* import() */[__nccwpck_require__.e(57), __nccwpck_require__.e(923), __nccwpck_require__.e(842)]).then(__nccwpck_require__.bind(__nccwpck_require__, 1842));
                const store = new GcsStore(d.settings, logger);
                await store.applyLifecycle(policy);
                logger.info(`Applied the lifecycle rules to gs://${d.settings.bucket} (${(await store.lifecycleRules()).length} rules now)`);
            }
        }
        else {
            const policy = azureLifecycle(options);
            const account = resolve(LIFECYCLE_SETTINGS.azureAccount, lookup) ??
                (d.settings.auth.kind === "shared-key" ? d.settings.auth.account : "<account>");
            out.write(`# Azure container ${d.settings.container}: az storage account management-policy create --account-name ${account} --resource-group <group> --policy @azure-lifecycle.json\n${JSON.stringify(policy, null, 2)}\n`);
            if (switches.apply) {
                logger.warn("Azure lifecycle policies belong to the storage account (management plane) and were NOT applied: run the az command above");
            }
        }
    }
    return 0;
};

;// CONCATENATED MODULE: external "node:readline/promises"
const external_node_readline_promises_namespaceObject = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:readline/promises");
;// CONCATENATED MODULE: ./src/restore/pitr.ts

const utc = (at) => at
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, " UTC");
/** `--pitr` found no backup at or before the target: says which is the oldest and what to do, with the guidance. */
class NoBackupBeforeTargetError extends shared_errors/* UserError */.yo {
    guidance;
    constructor(message, 
    /** The WAL guidance for the target, to print beside the error. */
    guidance) {
        super(message);
        this.guidance = guidance;
    }
}
/** The refusal of `--pitr` when nothing was taken at or before `target` in `where` (`all` = every backup seen). */
function noBackupBeforeTarget(all, target, where, database, 
/** The caller's names for the settings the advice mentions. */
names = {
    targetTime: "--target-time",
    backupFile: "--backup-file",
    listBackups: "add --list-backups",
}) {
    const oldest = oldestOf(all);
    const message = oldest
        ? `No backup in ${where} was taken at or before ${utc(target)}: the oldest of the ${all.length} there is ` +
            `${oldest.uri}, taken ${utc(oldest.takenAt)}. Nothing was restored. Either give ${/^[aeiou]/i.test(names.targetTime) ? "an" : "a"} ${names.targetTime} at or after ` +
            `${utc(oldest.takenAt)} (that restores the database as it was then), restore the oldest as it is with ` +
            `${names.backupFile} ${oldest.uri}, or look for an older copy (another bucket, a monthly/yearly tier elsewhere); ` +
            "a time before every dump can only be reached from a physical base backup plus WAL (see below)"
        : `No backups at all in ${where}${database ? ` for "${database}"` : ""}: nothing can be restored for ${utc(target)}. ` +
            `Check BACKUP_DIR, BACKUP_PREFIX and the bucket settings (to list them, ${names.listBackups})`;
    return new NoBackupBeforeTargetError(message, pitrGuidance({ target, restored: undefined, database, oldest }));
}
const oldestOf = (entries) => [...entries].sort((a, b) => a.takenAt.getTime() - b.takenAt.getTime())[0];
/** The newest backup taken at or before `target` (by the time in its name), or undefined. */
function newestBefore(entries, target) {
    return entries
        .filter((e) => e.takenAt.getTime() <= target.getTime())
        .sort((a, b) => b.takenAt.getTime() - a.takenAt.getTime())[0];
}
/**
 * What an operator must know after `--pitr`: a logical dump restores the database as it was when the
 * dump's snapshot was taken, and nothing later. Reaching the target time needs a physical base backup
 * plus archived WAL, which pg_dump backups cannot supply. The text says exactly that, and how to set it up.
 */
function pitrGuidance(options) {
    const target = utc(options.target);
    const restored = options.restored;
    const restoredLine = restored
        ? options.dryRun
            ? `Would restore "${options.database}" from ${restored.fileName}, taken ${utc(restored.takenAt)} (dry run: nothing was changed).`
            : `Restored "${options.database}" from ${restored.fileName}, taken ${utc(restored.takenAt)}: the data is as it was then.`
        : options.oldest
            ? `No backup was taken before ${target}: nothing was restored. The oldest backup, ${options.oldest.fileName}, was taken ${utc(options.oldest.takenAt)}.`
            : `No backup was taken before ${target}: nothing was restored.`;
    const gap = restored
        ? `Changes between the backup and ${target} (${((options.target.getTime() - restored.takenAt.getTime()) / 3_600_000).toFixed(1)} h) are NOT in ${options.dryRun ? "what would be restored" : "the restored database"}.`
        : "";
    return `Point-in-time recovery to ${target}
${restoredLine}
${gap}

The honest limit: this backup is a logical dump (pg_dump). WAL cannot be replayed on top of it: replay
needs a physical base backup of the whole cluster (pg_basebackup) taken before the target, plus every WAL
segment from then to the target. Lifeline did not pretend to do that.

To be able to recover to any moment next time, on the PostgreSQL server:
  1. postgresql.conf:
       wal_level = replica
       archive_mode = on
       archive_command = 'test ! -f /backups/wal/%f && cp %p /backups/wal/%f'
     (restart the server; check pg_stat_archiver for failures)
  2. Take a base backup regularly:  pg_basebackup -D /backups/base/$(date +%Y%m%d) -Ft -z -X stream -P
To recover to ${target} from those:
  3. Stop PostgreSQL; move the data directory aside; unpack the newest base backup taken BEFORE the target.
  4. In postgresql.conf (PostgreSQL 12+):
       restore_command = 'cp /backups/wal/%f %p'
       recovery_target_time = '${target}'
       recovery_target_action = 'promote'
     and create an empty recovery.signal file in the data directory.
  5. Start PostgreSQL: it replays WAL up to ${target}, then promotes. Check the log for
     "recovery stopping before commit" and "archive recovery complete".
`;
}

;// CONCATENATED MODULE: ./src/restore/restore-db.ts









/** A restore that failed, with the proof so far (for the summary's comparison table). */
class RestoreFailedError extends shared_errors/* UserError */.yo {
    proof;
    constructor(message, proof, options) {
        super(message, options);
        this.proof = proof;
    }
}
/** The backup a restore uses: `--backup-file`, or with `--pitr` the newest taken before the target. */
async function chooseBackup(config) {
    if (config.backupFile !== undefined)
        return findBackup(config.backupFile, config.destinationForUri, config.settingEnable("listBackups"));
    const target = config.pitrTarget;
    const all = await listBackups(await backupStores(config.backupDir, config.destinations), config.prefix);
    const chosen = newestBefore(all, target);
    if (!chosen) {
        const buckets = config.destinations.map((d) => d.kind).join(", ");
        const where = `${config.backupDir}${buckets ? ` (and the ${buckets} bucket(s))` : ""}`;
        throw noBackupBeforeTarget(all, target, where, config.database, {
            targetTime: config.settingName("targetTime"),
            backupFile: config.settingName("backupFile"),
            listBackups: config.settingEnable("listBackups"),
        });
    }
    return chosen;
}
/**
 * Restores a backup over a live database without ever risking it (runbook: restore_db.sh): the backup is
 * restored into a new database, proven (SHA-256 against the sidecar, catalog and row counts against the
 * manifest), and only then swapped in by renaming; the old database is kept as `<db>_pre_restore_<time>`
 * unless `dropOld`. Any failure before the swap drops the new database and leaves the live one as it was.
 * The caller has obtained the operator's confirmation.
 */
async function restoreDatabase(config, entry, options) {
    const now = options.now ?? (() => new Date());
    const started = now();
    const { logger } = options;
    logger.addSecret(config.connection.password);
    // A restore that throws records its failure in the adapter (metrics/failed-run.ts), which also sees
    // the refusals and configuration errors before this point, and the exit status.
    const result = await restore(config, entry, options, started);
    const finishedAt = now();
    const durationSeconds = (finishedAt.getTime() - started.getTime()) / 1000;
    const metrics = await publishMetrics(config.metrics, { type: "database" }, restoreSamples("database", { ok: true, finishedAt, durationSeconds }), logger);
    return { ...result, durationSeconds, metrics };
}
async function restore(config, entry, options, started) {
    const { logger } = options;
    const live = config.database;
    // Everything that can be refused is refused before a database is created.
    const sha256 = await expectedSha256(entry);
    const manifest = await readManifest(entry);
    (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, `The restore was cancelled before it started; "${live}" was not touched`);
    const admin = await connectMaintenance(config.connection, live);
    const fresh = restoreDatabaseName(live, started);
    let created = false;
    let swapped = false;
    let proof;
    // Prepared inside the try whose finally disposes it: its gpg-agent holds the secret key.
    let keyring;
    try {
        if (entry.encrypted)
            keyring = await GpgDecryptKeyring.prepare(config.gpgPrivateKey);
        const tools = await chooseRestoreTools(admin, config.pgBinDir);
        if (entry.format === "plain")
            requireRestrictablePsql(tools.psql, entry.uri);
        const liveInfo = await describeDatabase(admin, live);
        logger.info(liveInfo
            ? `Restoring ${entry.uri} over "${live}": into "${fresh}" first; "${live}" is untouched until the restore is proven`
            : `Restoring ${entry.uri} as "${live}" (it does not exist yet), via "${fresh}"`);
        // Over a live database: its encoding, locale and owner; otherwise those the backup recorded (a
        // SQL_ASCII dump only restores into a SQL_ASCII database).
        await createEmptyDatabase(admin, fresh, liveInfo ?? recordedDatabaseInfo(manifest));
        created = true;
        try {
            proof = await restoreAndProve({
                entry,
                expectedSha256: sha256,
                manifest,
                connection: config.connection,
                database: fresh,
                tools,
                jobs: config.jobs,
                keyring,
                signal: options.signal,
                logger,
                afterRestoreHook: options.afterRestoreHook,
            });
        }
        catch (err) {
            (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, `The restore was cancelled; "${live}" was not touched`);
            throw new RestoreFailedError(`Restoring ${entry.fileName} failed: ${err.message}. "${live}" was not touched`, undefined, { cause: err });
        }
        if (proof.problems.length) {
            throw new RestoreFailedError(`The restored copy of ${entry.fileName} is not trustworthy, so it was not swapped in: ${proof.problems.join("; ")}. "${live}" was not touched`, proof);
        }
        (0,shared_errors/* throwIfCancelled */.dZ)(options.signal, `The restore was cancelled before the swap; "${live}" was not touched`);
        const previous = previousDatabaseName(live, started);
        const swap = await swapInto(admin, { live, fresh, previous });
        swapped = true;
        logger.info(swap.previous
            ? `Swapped: "${live}" is now the restored database; the old one is kept as "${swap.previous}"` +
                (swap.terminated ? ` (${swap.terminated} session(s) on it were ended)` : "")
            : `"${live}" now holds the restored database`);
        let droppedPrevious = false;
        if (swap.previous && config.dropOld) {
            await dropDatabase(admin, swap.previous);
            droppedPrevious = true;
            logger.info(`Dropped the replaced database "${swap.previous}" (drop-old)`);
        }
        return {
            database: live,
            source: entry,
            sha256: proof.sha256,
            topology: proof.topology,
            proof,
            previousDatabase: droppedPrevious ? undefined : swap.previous,
            droppedPrevious,
        };
    }
    finally {
        if (created && !swapped) {
            await dropUnfinished(config, admin, fresh, logger);
        }
        await admin.end().catch(() => { });
        await keyring?.dispose();
    }
}
const RECONNECT_ATTEMPTS = 20;
/**
 * Drops the half-restored database. After a server crash the old connection is gone and the server
 * is still recovering, so this reconnects for a while before giving up and saying what to drop by hand.
 */
async function dropUnfinished(config, admin, fresh, logger) {
    let lastError;
    for (let attempt = 0; attempt < RECONNECT_ATTEMPTS; attempt++) {
        const client = attempt === 0
            ? admin
            : await connectMaintenance(config.connection, config.database).catch(() => undefined);
        if (client) {
            try {
                await dropDatabase(client, fresh);
                logger.info(`Dropped the unfinished database "${fresh}"`);
                return;
            }
            catch (err) {
                lastError = err;
            }
            finally {
                if (client !== admin)
                    await client.end().catch(() => { });
            }
        }
        await new Promise((r) => setTimeout(r, 250));
    }
    logger.error(`Could not drop the unfinished database "${fresh}" (${lastError?.message}): drop it by hand`);
}

;// CONCATENATED MODULE: ./src/restore/restore-plan.ts






/**
 * The dry run: reads the sidecar and manifest, asks the server whether the target exists and which
 * client programs fit, and creates, renames and writes nothing (no database, no keyring, no metrics).
 */
async function planRestore(config, entry, now) {
    const problems = [];
    await expectedSha256(entry).catch((err) => problems.push(err.message));
    const manifest = await readManifest(entry).catch((err) => {
        problems.push(err.message);
        return undefined;
    });
    let liveExists;
    let tool;
    const admin = await connectMaintenance(config.connection, config.database).catch((err) => {
        problems.push(`the server could not be reached: ${err.message}`);
        return undefined;
    });
    if (admin) {
        try {
            liveExists = (await describeDatabase(admin, config.database)) !== undefined;
            const tools = await chooseRestoreTools(admin, config.pgBinDir);
            if (entry.format === "plain") {
                requireRestrictablePsql(tools.psql, entry.uri);
                tool = `psql ${tools.psql.version} at ${tools.psql.path} (restricted, single transaction)`;
            }
            else {
                tool = `pg_restore ${tools.pgRestore.version} at ${tools.pgRestore.path} -j ${config.jobs}`;
            }
        }
        catch (err) {
            problems.push(err.message);
        }
        finally {
            await admin.end().catch(() => { });
        }
    }
    return {
        entry,
        database: config.database,
        liveExists,
        fresh: restoreDatabaseName(config.database, now),
        keptAs: liveExists !== false && !config.dropOld ? previousDatabaseName(config.database, now) : undefined,
        dropOld: config.dropOld,
        tool,
        manifest: manifest !== undefined,
        problems,
        guidance: config.pitrTarget
            ? pitrGuidance({ target: config.pitrTarget, restored: entry, database: config.database, dryRun: true })
            : undefined,
    };
}
/** The plan as an operator reads it, on a terminal or in the job summary. */
function restorePlanText(plan) {
    const e = plan.entry;
    const kept = plan.keptAs ?? `${plan.database}_pre_restore_<time>`;
    const swap = plan.liveExists === false
        ? `"${plan.database}" does not exist: "${plan.fresh}" would be renamed to "${plan.database}"`
        : `"${plan.database}" would stop accepting connections, its sessions would be ended, and in one transaction ` +
            `it would be renamed to "${kept}" and "${plan.fresh}" to "${plan.database}"; ` +
            (plan.dropOld
                ? "the replaced database would then be DROPPED (drop-old)"
                : `the replaced database would be KEPT as "${kept}" until you drop it`);
    const lines = [
        `Dry run: restore of "${plan.database}" — nothing was changed`,
        `  Backup:    ${e.uri}`,
        `             taken ${e.takenAt.toISOString()}, ${formatBytes(e.sizeBytes)}, ${e.format} format, ` +
            `${e.compression === "none" ? "uncompressed" : e.compression}, ${e.encrypted ? `gpg-encrypted (key: BACKUP_GPG_PRIVATE_KEY or GNUPGHOME)` : "not encrypted"}`,
        `  Proof:     sha256 sidecar${plan.manifest ? " and manifest (schemas, tables and row counts, sequences, extensions)" : " only (no manifest: nothing to compare the restored catalog with)"}`,
        `  Target:    "${plan.database}"${plan.liveExists === undefined ? " (existence unknown)" : plan.liveExists ? " (exists; replaced only after the restore is proven)" : " (does not exist yet)"}`,
        `  Plan:      1. create the new database "${plan.fresh}" (named for the time of the real run) and restore into it` +
            `${plan.tool ? ` with ${plan.tool}` : ""}`,
        `             2. prove it: sha256 against the sidecar${plan.manifest ? ", catalog against the manifest" : ""}; any failure drops it and changes nothing else`,
        `             3. swap: ${swap}`,
        plan.problems.length
            ? `  Problems:  the restore would not go ahead as it is:\n${plan.problems.map((p) => `             - ${p}`).join("\n")}`
            : "  Problems:  none found",
    ];
    return `${lines.join("\n")}\n${plan.guidance ? `\n${plan.guidance}` : ""}`;
}

;// CONCATENATED MODULE: ./src/media/restore-preflight.ts




/** Names quoted in a refusal; the count says how many there are in all. */
const NAMED_IN_REFUSAL = 5;
/** Whether the restore writes something for this entry (directories always: they are merged). */
function isRestorable(e) {
    if (e.type === "dir")
        return true;
    if (e.type !== "file" && e.type !== "symlink")
        return false;
    return e.state !== "skipped" && e.state !== "unreadable";
}
/** Whether the entry is one the restore covers, or a directory on the way to the restore path. */
function placeOf(e, scope) {
    if (isWithin(e.path, scope))
        return "in";
    return e.type === "dir" && isWithin(scope, e.path) ? "ancestor" : undefined;
}
class Named {
    names = [];
    count = 0;
    add(text) {
        if (this.names.length < NAMED_IN_REFUSAL)
            this.names.push(text);
        this.count++;
    }
    get text() {
        return `${this.names.join("; ")}${this.count > this.names.length ? `; and ${this.count - this.names.length} more` : ""}`;
    }
}
function restore_preflight_kindOf(st) {
    if (st.isSymbolicLink())
        return "a symbolic link";
    if (st.isDirectory())
        return "a directory";
    if (st.isFile())
        return "a file";
    return "a special file";
}
/**
 * The first pass, before anything is written: reads the whole manifest against its checksum (a
 * mismatch or an unsafe entry throws a ManifestError) and lstat's the target path of every entry, so
 * that a restore that would collide is refused as a whole. Streaming: memory holds only link targets.
 */
async function restore_preflight_preflight(options) {
    const { scope, target, overwrite } = options;
    const refusals = new Named();
    const conflicts = new Named();
    const linkTargets = new Set();
    let matched = 0;
    // Walk order puts a directory's entries right after it: below a missing one, nothing exists.
    let absent;
    await readWholeManifest(options.snapshotDir, (e) => {
        const place = placeOf(e, scope);
        if (place === undefined)
            return;
        if (place === "in") {
            matched++;
            if (e.linkTo !== undefined && isWithin(e.linkTo, scope))
                linkTargets.add(e.linkTo);
        }
        if (target === undefined || e.path === "" || !isRestorable(e))
            return;
        if (absent !== undefined && isWithin(e.path, absent))
            return;
        const shown = showPath(e.path);
        let st;
        try {
            st = (0,external_node_fs_.lstatSync)(fsPath(target, e.path));
        }
        catch (err) {
            if (err.code === "ENOENT") {
                if (e.type === "dir")
                    absent = e.path;
                return;
            }
            refusals.add(`${shown} cannot be checked (${err.message})`);
            return;
        }
        if (e.type === "dir") {
            if (!st.isDirectory())
                refusals.add(`${shown} is ${restore_preflight_kindOf(st)} where the snapshot has a directory`);
        }
        else if (st.isDirectory()) {
            refusals.add(`${shown} is a directory where the snapshot has a ${e.type}`);
        }
        else if (!overwrite) {
            conflicts.add(shown);
        }
    });
    if (refusals.count > 0) {
        throw new shared_errors/* UserError */.yo(`The restore of ${options.snapshot} into ${options.targetShown} is refused, nothing was written: ` +
            `${refusals.count} path(s) in the target stand where the snapshot has something else: ${refusals.text}. ` +
            "A restore never writes through a symlink nor replaces a directory; move them away, or restore into an empty directory");
    }
    if (conflicts.count > 0) {
        throw new shared_errors/* UserError */.yo(`The restore of ${options.snapshot} into ${options.targetShown} is refused, nothing was written: ` +
            `${conflicts.count} file(s) already exist there: ${conflicts.text}. Restore into an empty directory, move them ` +
            "away, or set MEDIA_RESTORE_OVERWRITE=true (input overwrite: true) to replace them");
    }
    if (matched === 0) {
        throw new shared_errors/* UserError */.yo(`MEDIA_RESTORE_PATH '${showPath(scope)}' is not in snapshot ${options.snapshot}: nothing was restored. ` +
            "Give a path relative to the media directory as it was backed up (see the snapshot's tree/ directory)");
    }
    return { matched, linkTargets };
}

;// CONCATENATED MODULE: ./src/media/restore-selection.ts




/** Snapshots named in the error that says a requested one is not there. */
const LISTED_SNAPSHOTS = 10;
/** MEDIA_BACKUP_DIR resolved, refused with what to set when it is not a readable directory. */
function realBackupDir(dir) {
    try {
        const real = (0,external_node_fs_.realpathSync)(dir);
        if (!(0,external_node_fs_.statSync)(real).isDirectory())
            throw new Error("it is not a directory");
        return real;
    }
    catch (err) {
        throw new shared_errors/* ConfigError */.xL(`MEDIA_BACKUP_DIR '${dir}' cannot be read: ${err.message}. Set it to the directory backup-media writes its snapshots to`);
    }
}
/** "latest" is the snapshot `current` names; a name must be a snapshot in MEDIA_BACKUP_DIR. */
function chooseSnapshot(backupDir, config) {
    const available = listSnapshots(backupDir).map((s) => s.name);
    const listing = available.length === 0
        ? "it holds no snapshot"
        : `the snapshots there, newest first: ${available.slice(0, LISTED_SNAPSHOTS).join(", ")}` +
            (available.length > LISTED_SNAPSHOTS ? `, … (${available.length} in all)` : "");
    if (config.snapshot === "latest") {
        const current = readCurrent(backupDir);
        if (current.problem) {
            throw new shared_errors/* UserError */.yo(`${current.problem}, so 'latest' names no snapshot. Set MEDIA_SNAPSHOT (input snapshot) to a snapshot name (${listing}), or run backup-media to make current again`);
        }
        if (current.name === undefined) {
            throw new shared_errors/* UserError */.yo(`MEDIA_BACKUP_DIR '${config.backupDir}' has no 'current' link: no media backup has completed there, so 'latest' names no snapshot ` +
                `(${listing}). Check MEDIA_BACKUP_DIR, run backup-media first, or set MEDIA_SNAPSHOT to a snapshot name`);
        }
        if (!available.includes(current.name)) {
            throw new shared_errors/* UserError */.yo(`'current' in MEDIA_BACKUP_DIR '${config.backupDir}' names ${current.name}, which is not there (${listing}). Set MEDIA_SNAPSHOT to a snapshot name`);
        }
        return current.name;
    }
    if (!available.includes(config.snapshot)) {
        throw new shared_errors/* UserError */.yo(`The snapshot '${config.snapshot}' (MEDIA_SNAPSHOT) is not in MEDIA_BACKUP_DIR '${config.backupDir}': ${listing}. Set MEDIA_SNAPSHOT to one of them or to latest`);
    }
    return config.snapshot;
}
/**
 * The restore path as a binary string ("" for the whole snapshot): one leading "./" and trailing "/"
 * are dropped, then it must be a plain relative path (no "..", not absolute).
 */
function parseRestorePath(raw) {
    if (raw === undefined)
        return "";
    let rel = raw;
    if (!rel.startsWith("/")) {
        if (rel.startsWith("./"))
            rel = rel.slice(2);
        rel = rel.replace(/\/+$/, "");
    }
    if (rel === "" || rel === ".")
        return "";
    const binary = toBinary(rel);
    const problem = relPathProblem(binary);
    if (problem) {
        throw new shared_errors/* ConfigError */.xL(`Invalid MEDIA_RESTORE_PATH (input restore-path) '${raw}': ${problem}. Expected a path inside the snapshot, ` +
            "relative to the media directory, such as photos/2026; a restore writes only inside its target");
    }
    return binary;
}
/** The target's realpath, or undefined when it does not exist yet; refused when it is not a directory. */
function existingTarget(targetDir) {
    let real;
    try {
        real = (0,external_node_fs_.realpathSync)(targetDir);
    }
    catch (err) {
        if (err.code === "ENOENT")
            return undefined;
        throw new shared_errors/* ConfigError */.xL(`MEDIA_RESTORE_TARGET '${targetDir}' cannot be used: ${err.message}`);
    }
    if (!(0,external_node_fs_.statSync)(real).isDirectory()) {
        throw new shared_errors/* ConfigError */.xL(`MEDIA_RESTORE_TARGET '${targetDir}' is not a directory. Set it to a directory (created if missing)`);
    }
    return real;
}
/** A restore into MEDIA_BACKUP_DIR (or around it) could replace the snapshots themselves. */
function refuseOverlap(target, backupDir, config) {
    const inside = (a, b) => a === b || a.startsWith(b.endsWith("/") ? b : `${b}/`);
    if (inside(target, backupDir) || inside(backupDir, target)) {
        throw new shared_errors/* ConfigError */.xL(`MEDIA_RESTORE_TARGET '${config.targetDir}' and MEDIA_BACKUP_DIR '${config.backupDir}' overlap: a restore there ` +
            "could replace the snapshots themselves. Restore into a directory outside the backup directory");
    }
}

;// CONCATENATED MODULE: ./src/media/restore-writer.ts






const restore_writer_CHUNK_BYTES = 1024 * 1024;
const restore_writer_READ_FLAGS = external_node_fs_.constants.O_RDONLY | external_node_fs_.constants.O_NOFOLLOW | external_node_fs_.constants.O_NONBLOCK;
const restore_writer_WRITE_FLAGS = external_node_fs_.constants.O_WRONLY | external_node_fs_.constants.O_CREAT | external_node_fs_.constants.O_EXCL;
/** Tries at another temp name when one is taken (a leftover of a killed restore with a recycled pid). */
const TEMP_ATTEMPTS = 5;
const restore_writer_CANCELLED = "The media restore was cancelled; entries already placed stay, no temporary file is left";
const restore_writer_asRoot = process.getuid?.() === 0;
/** The snapshot's metadata for an entry: permission bits, mtime (as atime too) and, as root, owner. */
function metadataOf(entry) {
    const t = secondsOf(entry.mtimeNs);
    return { mode: entry.mode, atime: t, mtime: t, ...(restore_writer_asRoot ? { uid: entry.uid, gid: entry.gid } : {}) };
}
/**
 * Writes entries into the target without ever writing through a symlink: every entry is made under a
 * hidden temp name in its (verified) directory, created exclusively, and then put in place in one step:
 * link()+unlink() (fails rather than replaces) without overwrite, rename() with it. A temp name is
 * tracked until it is placed or removed, so an error or a cancellation leaves none behind.
 */
class EntryWriter {
    tree;
    target;
    overwrite;
    signal;
    content;
    seq = 0;
    pending = new Set();
    scratch = Buffer.allocUnsafe(SMALL_FILE_BYTES + 1);
    constructor(tree, // the snapshot's tree/, binary string
    target, // the target's realpath, binary string
    overwrite, signal, 
    /** Contents from elsewhere (a bucket); the tree is then not read. */
    content) {
        this.tree = tree;
        this.target = target;
        this.overwrite = overwrite;
        this.signal = signal;
        this.content = content;
    }
    /** Creates a directory 0700 (its own mode comes after its entries); false when a real one was there. */
    makeDir(rel) {
        const dst = fsPath(this.target, rel);
        try {
            (0,external_node_fs_.mkdirSync)(dst, 0o700);
            return true;
        }
        catch (err) {
            if (err.code !== "EEXIST")
                throw err;
        }
        // mkdir never follows a symlink in the last component; lstat tells what is there instead.
        const st = (0,external_node_fs_.lstatSync)(dst);
        if (!st.isDirectory())
            throw notADirectory(rel, this.target);
        return false;
    }
    /** A directory's mode, mtime and owner: after everything inside it was written. */
    finishDir(rel, entry) {
        const dst = fsPath(this.target, rel);
        const meta = metadataOf(entry);
        if (meta.uid !== undefined && meta.gid !== undefined)
            (0,external_node_fs_.lchownSync)(dst, meta.uid, meta.gid);
        (0,external_node_fs_.chmodSync)(dst, meta.mode); // dst was made or lstat-checked as a real directory in this run
        (0,external_node_fs_.lutimesSync)(dst, meta.atime, meta.mtime);
    }
    /** Copies a file out of the snapshot, hashing it: placed only when size and SHA-256 match the manifest. */
    async file(entry) {
        const src = fsPath(this.tree, entry.path);
        const meta = metadataOf(entry);
        const content = this.content;
        const temp = await this.withTemp(entry.path, (t) => content
            ? this.copyStream(content(entry, this.signal), t, meta, entry.size)
            : entry.size <= SMALL_FILE_BYTES
                ? copySmallFile(src, t, meta, this.scratch)
                : this.copyLarge(src, t, meta)).catch((err) => {
            if (restore_writer_isFatal(err))
                throw err;
            return { why: `cannot be read from the snapshot: ${err.message}` };
        });
        if ("why" in temp)
            return { ok: false, why: temp.why };
        const got = temp.value;
        if (got.bytes !== entry.size || got.sha256 !== entry.sha256) {
            this.discard(temp.path);
            return {
                ok: false,
                why: `its copy in the snapshot is damaged (${got.bytes} bytes, sha256 ${got.sha256}; the manifest says ${entry.size} bytes, ${entry.sha256})`,
            };
        }
        return this.place(temp.path, entry.path, got.bytes);
    }
    /** A second path of an inode restored earlier in this run: a hard link to it, as in the source. */
    async hardLink(entry, first) {
        const from = fsPath(this.target, first);
        const temp = await this.withTemp(entry.path, (t) => (0,external_node_fs_.linkSync)(from, t)).catch(notMade("linked"));
        return "why" in temp ? { ok: false, why: temp.why } : this.place(temp.path, entry.path, 0);
    }
    /**
     * A symlink, recreated verbatim: its target bytes as the snapshot has them, absolute or dangling
     * included. It is data and is never followed, neither here nor by anything else this restore does.
     */
    async symlink(entry) {
        const target = Buffer.from(entry.target ?? "", "latin1");
        const meta = metadataOf(entry);
        const temp = await this.withTemp(entry.path, (t) => {
            (0,external_node_fs_.symlinkSync)(target, t);
            if (meta.uid !== undefined && meta.gid !== undefined)
                (0,external_node_fs_.lchownSync)(t, meta.uid, meta.gid);
            (0,external_node_fs_.lutimesSync)(t, meta.atime, meta.mtime);
        }).catch(notMade("created"));
        return "why" in temp ? { ok: false, why: temp.why } : this.place(temp.path, entry.path, 0);
    }
    /** Removes any temp name still pending (after an error or a cancellation). */
    cleanUp() {
        for (const p of this.pending)
            this.discard(Buffer.from(p, "latin1"));
    }
    place(temp, rel, bytes) {
        const final = fsPath(this.target, rel);
        try {
            if (this.overwrite) {
                (0,external_node_fs_.renameSync)(temp, final);
                // rename() of two links to one inode does nothing: the temp name would stay.
                if (exists(temp))
                    this.discard(temp);
                else
                    this.pending.delete(temp.toString("latin1"));
            }
            else {
                (0,external_node_fs_.linkSync)(temp, final); // EEXIST instead of replacing: nothing existing is ever clobbered
                this.discard(temp);
            }
            return { ok: true, bytes };
        }
        catch (err) {
            this.discard(temp);
            if (restore_writer_isFatal(err))
                throw err;
            const code = err.code;
            const why = code === "EEXIST"
                ? "it appeared in the target while the restore ran; it was left as it is"
                : `it cannot be put in place: ${err.message}`;
            return { ok: false, why };
        }
    }
    /** Runs `make` on a fresh hidden name in the entry's directory, retrying when the name is taken. */
    async withTemp(rel, make) {
        const dir = parentOf(rel);
        for (let attempt = 1;; attempt++) {
            const name = `.lifeline-restore-${process.pid}-${++this.seq}`;
            const temp = fsPath(this.target, dir === "" ? name : `${dir}/${name}`);
            const key = temp.toString("latin1");
            this.pending.add(key);
            try {
                return { path: temp, value: await make(temp) };
            }
            catch (err) {
                if (err.code === "EEXIST" && attempt < TEMP_ATTEMPTS) {
                    this.pending.delete(key); // someone else's file: never removed by us
                    continue;
                }
                if (err.code === "EEXIST")
                    this.pending.delete(key);
                else
                    this.discard(temp);
                throw err;
            }
        }
    }
    discard(temp) {
        try {
            (0,external_node_fs_.unlinkSync)(temp);
        }
        catch { }
        this.pending.delete(temp.toString("latin1"));
    }
    /** A file from a stream (a download), hashed as it is written; metadata set as for a copy. */
    async copyStream(opened, dst, meta, size) {
        const input = await opened;
        try {
            const output = await (0,promises_.open)(dst, restore_writer_WRITE_FLAGS, 0o600);
            try {
                const hash = (0,external_node_crypto_.createHash)("sha256");
                let position = 0;
                for await (const chunk of input) {
                    (0,shared_errors/* throwIfCancelled */.dZ)(this.signal, restore_writer_CANCELLED);
                    // More than the manifest's size is never written: a source sending more is damaged or hostile.
                    if (position + chunk.length > size)
                        throw new Error(`more than the ${size} bytes the manifest records arrived`);
                    hash.update(chunk);
                    let off = 0;
                    while (off < chunk.length) {
                        off += (await output.write(chunk, off, chunk.length - off, position + off)).bytesWritten;
                    }
                    position += chunk.length;
                }
                if (meta.uid !== undefined && meta.gid !== undefined)
                    (0,external_node_fs_.fchownSync)(output.fd, meta.uid, meta.gid);
                (0,external_node_fs_.fchmodSync)(output.fd, meta.mode);
                (0,external_node_fs_.futimesSync)(output.fd, meta.atime, meta.mtime);
                return { sha256: hash.digest("hex"), bytes: position };
            }
            finally {
                await output.close();
            }
        }
        finally {
            input.destroy();
        }
    }
    /** A large file in chunks, so a cancellation is seen between them. */
    async copyLarge(src, dst, meta) {
        const input = await (0,promises_.open)(src, restore_writer_READ_FLAGS);
        try {
            if (!(await input.stat()).isFile())
                throw new Error("it is not a regular file in the snapshot");
            const output = await (0,promises_.open)(dst, restore_writer_WRITE_FLAGS, 0o600);
            try {
                const hash = (0,external_node_crypto_.createHash)("sha256");
                const buf = Buffer.allocUnsafe(restore_writer_CHUNK_BYTES);
                let position = 0;
                for (;;) {
                    (0,shared_errors/* throwIfCancelled */.dZ)(this.signal, restore_writer_CANCELLED);
                    const { bytesRead } = await input.read(buf, 0, restore_writer_CHUNK_BYTES, position);
                    if (bytesRead === 0)
                        break;
                    hash.update(buf.subarray(0, bytesRead));
                    let off = 0;
                    while (off < bytesRead) {
                        off += (await output.write(buf, off, bytesRead - off, position + off)).bytesWritten;
                    }
                    position += bytesRead;
                }
                if (meta.uid !== undefined && meta.gid !== undefined)
                    (0,external_node_fs_.fchownSync)(output.fd, meta.uid, meta.gid);
                (0,external_node_fs_.fchmodSync)(output.fd, meta.mode);
                (0,external_node_fs_.futimesSync)(output.fd, meta.atime, meta.mtime);
                return { sha256: hash.digest("hex"), bytes: position };
            }
            finally {
                await output.close();
            }
        }
        finally {
            await input.close();
        }
    }
}
/** An entry that could not be made under its temp name: that entry fails, unless the error stops the restore. */
function notMade(what) {
    return (err) => {
        if (restore_writer_isFatal(err))
            throw err;
        return { why: `it cannot be ${what} in the target: ${err.message}` };
    };
}
/** The refusal for a non-directory where the snapshot has a directory (a planted symlink, say). */
function notADirectory(rel, target) {
    const where = showPath(rel === "" ? target : `${target}/${rel}`);
    return new shared_errors/* UserError */.yo(`${where} exists in the target and is not a directory, where the snapshot has a directory: a restore ` +
        "never writes through a symlink or over a file that stands where a directory goes. Move it away and restore again");
}
function exists(p) {
    try {
        (0,external_node_fs_.lstatSync)(p);
        return true;
    }
    catch {
        return false;
    }
}
/** Errors that stop the restore (the disk, a cancellation) rather than one entry. */
function restore_writer_isFatal(err) {
    if (err.name === "CancelledError")
        return true;
    const code = err.code;
    return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EIO";
}

;// CONCATENATED MODULE: ./src/media/restore-media.ts
















/** How often the restore yields to the event loop (signals, timers). */
const restore_media_YIELD_EVERY_MS = 50;
/** Names kept per list in the result (every one is in the log). */
const MAX_NAMED = 1000;
const restore_media_CANCELLED = "The media restore was cancelled; entries already placed stay, no temporary file is left";
/**
 * Restores a media snapshot, or one path of it, into a target directory: every file's SHA-256 checked
 * against the manifest (a mismatch is not placed), modes, mtimes, owners (as root), symlinks and hard
 * links as in the source. A restore that would replace files (without overwrite) or write through a
 * symlink in the target is refused before anything is written; a manifest that does not match its
 * checksum, or that names an unsafe path, is refused before the target is even created.
 */
async function restoreMedia(config, options) {
    const { logger, signal } = options;
    const now = options.now ?? (() => new Date());
    const startedAt = now();
    const scope = parseRestorePath(config.restorePath);
    const staged = config.remote ? await stageFromBucket(config, logger, signal) : undefined;
    let snapshot;
    let targetDir;
    let done;
    try {
        const backupDir = staged ? undefined : realBackupDir(config.backupDir);
        snapshot = staged ? staged.snapshot : chooseSnapshot(backupDir, config);
        const snapshotDir = staged ? staged.dir : external_node_path_default().join(backupDir, snapshot);
        targetDir = external_node_path_default().resolve(config.targetDir);
        const existing = existingTarget(targetDir);
        if (backupDir)
            refuseOverlap(existing ?? targetDir, backupDir, config);
        logger.info(`Restoring ${scope === "" ? "" : `${showPath(scope)} of `}media snapshot ${snapshot}` +
            `${staged ? ` from ${staged.location}` : ""} into ${targetDir}` +
            (config.overwrite ? " (overwrite: existing files are replaced)" : ""));
        const checked = await restore_preflight_preflight({
            snapshotDir,
            snapshot,
            scope,
            target: existing === undefined ? undefined : toBinary(existing),
            targetShown: targetDir,
            overwrite: config.overwrite,
        });
        (0,shared_errors/* throwIfCancelled */.dZ)(signal, "The media restore was cancelled before anything was written");
        (0,external_node_fs_.mkdirSync)(targetDir, { recursive: true });
        // Resolved once: the operator's own path may hold symlinks; below it, none is ever followed.
        const target = (0,external_node_fs_.realpathSync)(targetDir);
        if (backupDir)
            refuseOverlap(target, backupDir, config);
        done = await restoreEntries({
            snapshotDir,
            tree: toBinary(external_node_path_default().join(snapshotDir, TREE_DIR)),
            target: toBinary(target),
            scope,
            checked,
            overwrite: config.overwrite,
            logger,
            signal,
            onProgress: options.onProgress,
            content: staged?.content,
        });
        if (staged) {
            logger.info(`Read ${staged.fetched.bytes} bytes in ${staged.fetched.requests} object or range requests from ${staged.location}`);
        }
    }
    finally {
        staged?.dispose();
    }
    const exitCode = done.failed.length > 0 ? 1 : 0;
    const finishedAt = now();
    const durationSeconds = (finishedAt.getTime() - startedAt.getTime()) / 1000;
    logger[exitCode === 0 ? "info" : "error"](`Restored ${snapshot} into ${targetDir}: ${done.files} files (${done.bytes} bytes), ${done.hardLinks} hard links, ` +
        `${done.symlinks} symlinks, ${done.dirs} directories; ${done.failed.length} failed, ${done.skipped.length} skipped`);
    const metrics = await publishMetrics(config.metrics, { type: "media" }, restoreSamples("media", { ok: exitCode === 0, finishedAt, durationSeconds }), logger, signal);
    return {
        snapshot,
        targetDir,
        restorePath: scope === "" ? undefined : showPath(scope),
        ...done,
        durationSeconds,
        ...(staged ? { remote: { location: staged.location, ...staged.fetched } } : {}),
        metrics,
        exitCode,
    };
}
/** The second pass: the manifest again, in walk order, each entry written as EntryWriter places it. */
async function restoreEntries(run) {
    const { logger, signal, scope } = run;
    const writer = new EntryWriter(run.tree, run.target, run.overwrite, run.signal, run.content);
    const reader = ManifestReader.open(external_node_path_default().join(run.snapshotDir, MANIFEST_FILE));
    const counts = { files: 0, dirs: 0, symlinks: 0, hardLinks: 0, bytes: 0 };
    const skipped = new NamedList();
    const failed = new NamedList();
    const placedFirsts = new Set();
    // Directories get their mode, mtime and owner after their entries (post-order), like the builder's.
    const openDirs = [];
    const closeDirsUntil = (parent) => {
        for (let top = openDirs.at(-1); top; top = openDirs.at(-1)) {
            if (parent !== undefined && isWithin(parent, top.rel))
                return;
            openDirs.pop();
            if (top.finish)
                writer.finishDir(top.rel, top.entry);
        }
    };
    let lastYield = Date.now();
    const started = Date.now();
    let lastProgress = started;
    let inScope = 0;
    try {
        for (let e = reader.next(); e !== undefined; e = reader.next()) {
            if (Date.now() - lastYield >= restore_media_YIELD_EVERY_MS) {
                await (0,external_node_timers_promises_.setImmediate)();
                lastYield = Date.now();
                (0,shared_errors/* throwIfCancelled */.dZ)(signal, restore_media_CANCELLED);
                if (run.onProgress && lastYield - lastProgress >= 1000) {
                    lastProgress = lastYield;
                    run.onProgress({
                        entries: inScope,
                        of: run.checked.matched,
                        bytes: counts.bytes,
                        elapsedSeconds: (lastYield - started) / 1000,
                    });
                }
            }
            const place = placeOf(e, scope);
            if (place === undefined)
                continue;
            inScope++;
            const shown = showPath(e.path);
            if (e.path !== "") {
                closeDirsUntil(parentOf(e.path));
                // The reader already refuses an entry outside a listed directory; this is the writer's own check.
                if (openDirs.at(-1)?.rel !== parentOf(e.path)) {
                    throw new shared_errors/* UserError */.yo(`${shown} in the snapshot has no directory restored before it; the restore stops`);
                }
            }
            if (e.type === "dir") {
                const created = e.path === "" ? false : writer.makeDir(e.path);
                if (place === "in")
                    counts.dirs++;
                if (place === "in" && e.state === "unreadable") {
                    skipped.add(`${shown}/ (its contents could not be listed at backup time: ${e.error ?? "unreadable"})`);
                }
                openDirs.push({ rel: e.path, entry: e, finish: place === "in" || created });
                continue;
            }
            if (!isRestorable(e)) {
                const why = e.state === "unreadable"
                    ? `unreadable at backup time: ${e.error ?? "?"}`
                    : `a ${e.type}, not backed up`;
                skipped.add(`${shown} (${why})`);
                logger.warn(`Not restored: ${shown} (${why}); the snapshot has no data for it`);
                continue;
            }
            let placed;
            let linked = false;
            if (e.type === "symlink")
                placed = await writer.symlink(e);
            else if (e.linkTo !== undefined && placedFirsts.has(e.linkTo)) {
                placed = await writer.hardLink(e, e.linkTo);
                linked = placed.ok;
                if (!placed.ok)
                    placed = await writer.file(e); // EMLINK, say: an independent copy then
            }
            else
                placed = await writer.file(e);
            if (!placed.ok) {
                failed.add(`${shown} (${placed.why})`);
                logger.error(`Not restored: ${shown}: ${placed.why}`);
                continue;
            }
            if (e.type === "symlink")
                counts.symlinks++;
            else if (linked)
                counts.hardLinks++;
            else {
                counts.files++;
                counts.bytes += placed.bytes;
            }
            if (run.checked.linkTargets.has(e.path))
                placedFirsts.add(e.path);
        }
        closeDirsUntil(undefined);
        if (reader.digest() !== (await readManifestSum(run.snapshotDir))) {
            throw new ManifestError(`The manifest of ${run.snapshotDir} changed while it was restored from: the restore cannot vouch for what it wrote; restore again`);
        }
    }
    catch (err) {
        writer.cleanUp();
        throw err;
    }
    finally {
        reader.close();
    }
    return { ...counts, skipped: skipped.list(), failed: failed.list() };
}
/** A list of names that stops growing at MAX_NAMED (the log has every one). */
class NamedList {
    names = [];
    more = 0;
    add(name) {
        if (this.names.length < MAX_NAMED)
            this.names.push(name);
        else
            this.more++;
    }
    list() {
        return this.more > 0 ? [...this.names, `… and ${this.more} more (see the log)`] : this.names;
    }
}
/** The bucket's snapshot, staged: its manifest checked and local, its contents read by byte range. */
async function stageFromBucket(config, logger, signal) {
    const source = config.remote;
    const remote = await openMediaRemote(source.destination, source.prefix, logger, signal);
    const snap = await chooseRemoteSnapshot(remote, config.snapshot);
    // A key given is always prepared: a plain snapshot can still name objects sealed by earlier runs.
    const keyring = snap.encrypted || config.gpgPrivateKey !== undefined
        ? await GpgDecryptKeyring.prepare(config.gpgPrivateKey)
        : undefined;
    try {
        const staged = await stageRemoteSnapshot(remote, snap, {
            keyring,
            signal,
            stallMs: source.destination.settings.transfer.requestTimeoutMs,
        });
        return {
            ...staged,
            location: remote.location,
            dispose: () => {
                staged.dispose();
                void keyring?.dispose();
            },
        };
    }
    catch (err) {
        await keyring?.dispose();
        throw err;
    }
}

;// CONCATENATED MODULE: ./src/cli/restore-media-run.ts




/** restore --media: what was restored on stdout, the files that failed their checksum on stderr. */
async function runRestoreMedia(lookup, io) {
    const progress = terminalProgress(process.stderr);
    let result;
    try {
        result = await restoreMedia(loadRestoreMediaConfig(lookup), {
            logger: io.logger,
            signal: io.signal,
            onProgress: (p) => progress.update(describeRestoreProgress(p)),
        });
    }
    finally {
        progress.done();
    }
    for (const failed of result.failed)
        io.logger.error(`Not restored (its SHA-256 does not match the manifest): ${failed}`);
    io.out.write(io.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `Restored ${result.files} files (${result.bytes} bytes), ${result.dirs} directories, ${result.symlinks} symlinks ` +
            `from ${result.snapshot} into ${result.targetDir}` +
            (result.failed.length > 0
                ? `; ${result.failed.length} FAILED their checksum and were not placed\n`
                : "\n"));
    return result.exitCode;
}

;// CONCATENATED MODULE: ./src/cli/restore-command.ts












const RESTORE_HELP = `Usage: lifeline restore [options]

Restores a backup over the database in DATABASE_URL (runbook: restore_db.sh) without risking it: the
backup is restored into a new database, proven against its .sha256 sidecar and manifest (schemas,
tables and row counts, sequences, extensions), and only then swapped in by renaming. The replaced
database is kept as <db>_pre_restore_<time> unless --drop-old. A failed restore changes nothing.

  lifeline restore --list-backups [--json]
  lifeline restore --backup-file /backups/daily/transcripts_daily_20241026_020000.sql.gz [--force]
  lifeline restore --pitr --target-time '2024-10-26 01:30:00'
  lifeline restore --backup-file <path> --dry-run   print the plan (and with --pitr the WAL guidance); change nothing

On a terminal you are asked to type the database name; --force skips that, --confirm <db> answers it.
Without a terminal, one of them is required.

With --media, restores a media snapshot of MEDIA_BACKUP_DIR instead (the database is not touched):
the whole snapshot or --restore-path of it into --target-dir, every file checked against the
manifest's SHA-256; existing files are refused unless --overwrite; nothing is written outside the
target, nor through a symlink.

  lifeline restore --media --target-dir /restore/data [--snapshot media_20261202_030000] [--restore-path uploads/2026]

Options:
${settingsHelp(RESTORE_SETTINGS)}
  --json                         with --list-backups: print JSON on stdout
  --help                         show this help

Exit status: 0 restored (or listed, or a dry run found nothing in the way); 1 failed or refused (or the dry
run found a problem), nothing replaced; ${COMMON_EXIT_HELP}
`;
const RESTORE_COMMAND = { settings: RESTORE_SETTINGS, switches: ["json"], help: RESTORE_HELP };
/** Asks the operator to type the database name; true only for an exact match. */
async function askOnTerminal(database, entry) {
    const rl = (0,external_node_readline_promises_namespaceObject.createInterface)({ input: process.stdin, output: process.stderr });
    try {
        const answer = await rl.question(`This replaces the database "${database}" with ${entry.fileName} (taken ${entry.takenAt.toISOString()}).\n` +
            `The current one is kept as ${database}_pre_restore_<time>. Type the database name to go on: `);
        return answer.trim() === database;
    }
    finally {
        rl.close();
    }
}
/**
 * The runbook's confirmation: `--confirm <db>` must name the database; else `--force`; else a terminal
 * where the operator types it. Without any of these, refuse before anything is touched.
 */
async function confirmRestore(config, entry, isTerminal, ask = askOnTerminal) {
    if (config.confirm !== undefined) {
        if (config.confirm === config.database)
            return;
        throw new shared_errors/* UserError */.yo(`RESTORE_CONFIRM (--confirm) is '${config.confirm}' but the target database is '${config.database}': nothing was restored. Give the target's exact name`);
    }
    if (config.force)
        return;
    if (!isTerminal) {
        throw new shared_errors/* UserError */.yo(`Refusing to replace the database '${config.database}' without confirmation, and there is no terminal to ask on: ` +
            `add --confirm ${config.database} (or --force, as in the runbook). Nothing was changed`);
    }
    if (!(await ask(config.database, entry))) {
        throw new shared_errors/* UserError */.yo(`The name typed did not match '${config.database}': nothing was restored`);
    }
}
/** `lifeline restore`: returns the exit code. */
const restoreCommand = async (argv, logger, signal, out, record) => {
    const started = startCommand(argv, RESTORE_COMMAND, { logger, out, record });
    if (!started)
        return 0;
    const { lookup, switches } = started;
    if (isMedia(lookup)) {
        record.type = "media";
        return runRestoreMedia(lookup, { logger, signal, out, json: switches.json === true });
    }
    const now = new Date();
    if (isListOnly(lookup)) {
        record.kind = undefined; // listing is not a restore: it records no metrics
        const { backupDir, prefix, destinations } = loadListConfig(lookup);
        const entries = await listBackups(await backupStores(backupDir, destinations, logger), prefix);
        out.write(switches.json
            ? `${JSON.stringify(entries.map((e) => listedBackup(e, now)), null, 2)}\n`
            : backupListText(entries, now, backupDir));
        return 0;
    }
    const config = loadRestoreConfig(lookup);
    if (config.dryRun)
        record.kind = undefined; // a dry run is not a restore: it records no metrics
    const entry = await chooseBackup(config).catch((err) => {
        if (err instanceof NoBackupBeforeTargetError)
            out.write(err.guidance);
        throw err;
    });
    if (config.dryRun) {
        const plan = await planRestore(config, entry, now);
        out.write(restorePlanText(plan));
        return plan.problems.length ? 1 : 0;
    }
    if (config.pitrTarget)
        logger.info(`--pitr: the newest backup before ${config.pitrTarget.toISOString()} is ${entry.uri}`);
    await confirmRestore(config, entry, process.stdin.isTTY === true && process.stderr.isTTY === true);
    const result = await restoreDatabase(config, entry, { logger, signal });
    out.write(`Restored "${result.database}" from ${entry.fileName}` +
        (result.previousDatabase ? `; the replaced database is kept as "${result.previousDatabase}"\n` : "\n"));
    if (config.pitrTarget)
        out.write(`\n${pitrGuidance({ target: config.pitrTarget, restored: entry, database: config.database })}`);
    return 0;
};

;// CONCATENATED MODULE: ./src/config/verify-config.ts






const verify_config_shared = BACKUP_DB_SETTINGS;
/** The settings of verify, named as in the runbook's verify_backup.sh. */
const VERIFY_SETTINGS = {
    databaseUrl: {
        ...verify_config_shared.databaseUrl,
        description: "with test-restore: the server the scratch database is created on (the live database is not touched)",
    },
    backupDir: verify_config_shared.backupDir,
    prefix: { ...verify_config_shared.prefix, description: "only backups whose names start with this; default: all" },
    maxAgeHours: {
        env: "BACKUP_MAX_AGE_HOURS",
        input: "max-age-hours",
        description: "exit 2 when the newest daily backup is older than this, or none exists; weekly and monthly get 7 and 31 days more",
        default: "26",
        parse: integerIn(1, 87600, " (hours)"),
    },
    testRestore: {
        env: "BACKUP_TEST_RESTORE",
        input: "test-restore",
        description: "restore the newest good backup into a scratch database, compare it with its manifest, drop it",
        default: "false",
        parse: parseBoolean,
    },
    backupFile: {
        ...RESTORE_COMMON_SETTINGS.backupFile,
        description: "with test-restore: the backup to restore instead of the newest good one",
    },
    checkSql: {
        env: "BACKUP_CHECK_SQL",
        input: "check-sql",
        description: "with test-restore: file of extra SQL checks, each ended by ';'; each must return a first value that is not false, NULL or empty",
        parse: parseString,
    },
    verifyRemote: {
        env: "BACKUP_VERIFY_REMOTE",
        input: "verify-remote",
        description: "which copies in the buckets are downloaded and checked: all, or the newest of each tier (less egress)",
        default: "all",
        parse: oneOf(["all", "newest"]),
    },
    ...BACKUP_READING_SETTINGS,
    ...VERIFY_MEDIA_SETTINGS,
};
function loadVerifyConfig(lookup) {
    const s = VERIFY_SETTINGS;
    const names = namesOf(lookup);
    const testRestore = settings_require(s.testRestore, lookup);
    const backupFile = resolve(s.backupFile, lookup);
    const checkSql = resolve(s.checkSql, lookup);
    if (!testRestore && (backupFile !== undefined || checkSql !== undefined)) {
        throw new shared_errors/* ConfigError */.xL(`${names.label(backupFile !== undefined ? s.backupFile : s.checkSql)} only applies with ${names.name(s.testRestore)}: ` +
            `${names.enable(s.testRestore)}, or unset it`);
    }
    return {
        backupDir: settings_require(s.backupDir, lookup),
        prefix: resolve(s.prefix, lookup),
        maxAgeHours: settings_require(s.maxAgeHours, lookup),
        testRestore: testRestore
            ? {
                connection: parseDatabaseUrl(settings_require(s.databaseUrl, lookup, ` — ${names.name(s.testRestore)} needs a server to create the scratch database on`), lookup(s.databaseUrl)?.source),
                backupFile,
                checkSql,
            }
            : undefined,
        verifyRemote: settings_require(s.verifyRemote, lookup),
        ...loadBackupReading(lookup),
        listAdvice: `run restore and ${names.enable(RESTORE_SETTINGS.listBackups)}`,
    };
}

;// CONCATENATED MODULE: ./src/cli/verify-command.ts







const VERIFY_HELP = `Usage: lifeline verify [options]

Verifies every backup under BACKUP_DIR/{daily,weekly,monthly} (runbook: verify_backup.sh): the .sha256
sidecar, a full streamed decompression, gpg decryption when a secret key is at hand, pg_dump's
completion marker, and the manifest. With --test-restore, also restores the newest good backup (or
--backup-file) into a scratch database, compares it with its manifest (schemas, tables and row counts,
sequences, extensions), runs the --check-sql checks, and drops the scratch database.

  lifeline verify
  lifeline verify --test-restore --check-sql checks.sql
  lifeline verify --max-age-hours 48
  lifeline verify --media [--read-data-subset 10%]   the media snapshots of MEDIA_BACKUP_DIR instead

Options:
${settingsHelp(VERIFY_SETTINGS)}
  --json                         print the report as JSON on stdout
  --help                         show this help

Exit status (0-2 are the runbook's): 0 all verifications passed; 1 verification failures; 2 backups
too old or missing; ${COMMON_EXIT_HELP}
`;
const VERIFY_COMMAND = { settings: VERIFY_SETTINGS, switches: ["json"], help: VERIFY_HELP };
/** `lifeline verify`: returns the runbook's exit code. */
const verifyCommand = async (argv, logger, signal, out, record) => {
    const started = startCommand(argv, VERIFY_COMMAND, { logger, out, record });
    if (!started)
        return 0;
    const { lookup, switches } = started;
    if (isMedia(lookup)) {
        record.type = "media";
        return runVerifyMedia(lookup, { logger, signal, out, json: switches.json === true });
    }
    const report = await verifyBackups(loadVerifyConfig(lookup), { logger, signal });
    for (const reason of report.reasons)
        logger.error(reason);
    if (switches.json) {
        out.write(`${JSON.stringify({
            ...report,
            checks: report.checks.map(({ name, ...c }) => ({ ...c, tier: name.tier })),
        }, null, 2)}\n`);
    }
    else {
        out.write(verifyBackupsSummary(report));
    }
    return report.exitCode;
};

;// CONCATENATED MODULE: ./src/cli/main.ts












const COMMANDS = {
    "backup-db": {
        run: backupDbCommand,
        metrics: "backup",
        summary: "take a database backup (runbook: backup_db.sh)",
        help: BACKUP_DB_HELP,
    },
    "backup-media": {
        run: backupMediaCommand,
        metrics: "backup",
        summary: "take an incremental snapshot of the media directory (runbook: backup_media.sh)",
        help: BACKUP_MEDIA_HELP,
    },
    verify: {
        run: verifyCommand,
        metrics: "verify",
        summary: "verify backups: checksums, decompression, gpg, age, test restore (runbook: verify_backup.sh)",
        help: VERIFY_HELP,
    },
    restore: {
        run: restoreCommand,
        metrics: "restore",
        summary: "list backups or restore one without risking the live database (runbook: restore_db.sh)",
        help: RESTORE_HELP,
    },
    lifecycle: {
        run: lifecycleCommand,
        summary: "print or apply the buckets' lifecycle policies (runbook: Configure lifecycle policy)",
        help: LIFECYCLE_HELP,
    },
};
const HELP = `Usage: lifeline <command> [options]

CI-native backups for PostgreSQL and a media directory, the same engine as the Lifeline GitHub Actions.

Commands:
${Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`)
    .join("\n")}

Run 'lifeline <command> --help' for a command's options. Version ${LIFELINE_VERSION}.

Exit status: 0 success; 1 failed; 2 verify: backups too old or missing; 64 invalid usage; 78 invalid
configuration; 130 cancelled by SIGINT; 143 cancelled by SIGTERM.
`;
/** Runs the CLI and returns its exit code. Logs go to stderr; results to stdout. */
async function main(argv, io = {
    out: process.stdout,
    err: process.stderr,
}) {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
        io.out.write(HELP);
        return name === undefined ? EXIT.usage : 0;
    }
    if (name === "--version") {
        io.out.write(`${LIFELINE_VERSION}\n`);
        return 0;
    }
    const command = COMMANDS[name];
    if (!command) {
        io.err.write(`lifeline: unknown command '${name}'. Expected one of: ${Object.keys(COMMANDS).join(", ")}\n`);
        return EXIT.usage;
    }
    const logger = new Logger(streamSink(io.err));
    const controller = new AbortController();
    const onSignal = (sig) => {
        if (controller.signal.aborted) {
            // A second signal while cleaning up: the operator insists. Partial files are removed by the next run.
            process.exit(sig === "SIGINT" ? EXIT.sigint : EXIT.sigterm);
        }
        logger.warn(`Received ${sig}: stopping and cleaning up (send it again to exit at once)`);
        controller.abort(new shared_errors/* CancelledError */.cc(sig));
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    const startedAt = new Date();
    // Read before anything else can fail, from the environment; the command refines it with its flags.
    const record = {
        kind: command.metrics,
        settings: metricsDestination(environmentLookup(process.env)),
    };
    try {
        const status = await command.run(rest, logger, controller.signal, io.out, record);
        // A cancelled run is never a success, even when the command got to its end.
        if (controller.signal.aborted)
            throw controller.signal.reason;
        return status;
    }
    catch (err) {
        const status = exitStatusOf(err, controller.signal);
        const cancelled = cancellationOf(err, controller.signal);
        const message = logger.redact(err instanceof Error ? err.message : String(err));
        io.err.write(`lifeline ${name}: ${message}\n`);
        if (cancelled && !/cancelled/i.test(message)) {
            io.err.write(`lifeline ${name}: cancelled by ${cancelled.signalName}\n`);
        }
        else if (!(err instanceof shared_errors/* UserError */.yo) && err instanceof Error && err.cause instanceof Error) {
            io.err.write(`  caused by: ${logger.redact(err.cause.message)}\n`);
        }
        // Every failed run is recorded, so that BackupFailed fires now rather than BackupTooOld a day later.
        if (record.kind)
            await recordFailedRun(record.settings, record.kind, { startedAt, exitStatus: status }, logger, record.type);
        return status;
    }
    finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
    }
}


/***/ }),

/***/ 7879:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   JG: () => (/* binding */ anySignal),
/* harmony export */   Js: () => (/* binding */ abortReason),
/* harmony export */   NE: () => (/* binding */ withDeadline),
/* harmony export */   Sp: () => (/* binding */ formatBound),
/* harmony export */   j3: () => (/* binding */ DeadlineError)
/* harmony export */ });
/* harmony import */ var _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(8382);

/** How long an operation whose signal fired may take to fail with its own, more specific, error. */
const SETTLE_GRACE_MS = 500;
/** A network operation that got no answer in time: says what it was, the bound and the setting behind it. */
class DeadlineError extends _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .UserError */ .yo {
    what;
    timeoutMs;
    setting;
    name = "DeadlineError";
    constructor(
    /** What was waited for, e.g. "S3 check the bucket of s3://bucket/backups/". */
    what, timeoutMs, 
    /** The setting that sets the bound, e.g. BACKUP_NETWORK_TIMEOUT_SECONDS. */
    setting) {
        super(`${what} got no answer within ${formatBound(timeoutMs, setting)}`);
        this.what = what;
        this.timeoutMs = timeoutMs;
        this.setting = setting;
    }
}
/** `2 s (BACKUP_NETWORK_TIMEOUT_SECONDS)`: the bound as messages quote it. */
function formatBound(timeoutMs, setting) {
    const seconds = timeoutMs >= 1000 ? `${Math.round(timeoutMs / 100) / 10} s` : `${timeoutMs} ms`;
    return setting ? `${seconds} (${setting})` : seconds;
}
/** One signal that fires when any of the given ones does; undefined when none is given. */
function anySignal(...signals) {
    const given = signals.filter((s) => s !== undefined);
    if (given.length <= 1)
        return given[0];
    return AbortSignal.any(given);
}
/** The error a fired signal stands for: its reason when that is an Error (a DeadlineError, the run's cancellation). */
function abortReason(signal) {
    const reason = signal.reason;
    return reason instanceof Error ? reason : new _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .UserError */ .yo(`Cancelled (${String(reason)})`);
}
/**
 * Runs one network operation under a deadline: `operation` gets a signal that fires after `timeoutMs`
 * or when `options.signal` does, and the returned promise settles by then (plus a short grace for the
 * operation's own error) even when the operation ignores its signal — nothing waits on a silent server
 * beyond the bound. Rejects with a DeadlineError on timeout, with the signal's reason when cancelled.
 */
async function withDeadline(what, timeoutMs, operation, options = {}) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
        throw new TypeError(`withDeadline: timeoutMs must be a positive number, got ${timeoutMs}`);
    }
    const outer = options.signal;
    if (outer?.aborted)
        throw abortReason(outer);
    const controller = new AbortController();
    const { signal } = controller;
    let grace;
    let giveUp = () => { };
    // Settles when the bound passed (after a grace for the operation's own, more specific, error) or at
    // once when the outer signal fired: then the caller has its own error to give.
    const abandoned = new Promise((_, reject) => {
        giveUp = reject;
    });
    abandoned.catch(() => { });
    const timer = setTimeout(() => {
        const reason = new DeadlineError(what, timeoutMs, options.setting);
        controller.abort(reason);
        grace = setTimeout(() => giveUp(reason), SETTLE_GRACE_MS);
    }, timeoutMs);
    const onOuterAbort = () => {
        const reason = abortReason(outer);
        controller.abort(reason);
        giveUp(reason);
    };
    outer?.addEventListener("abort", onOuterAbort, { once: true });
    try {
        return await Promise.race([
            operation(signal).catch((err) => {
                // An SDK's bare AbortError says less than why its signal fired (the deadline, the cancellation);
                // an error that already explains itself (a UserError naming the destination) is kept.
                throw signal.aborted && !(err instanceof _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .UserError */ .yo) ? abortReason(signal) : err;
            }),
            abandoned,
        ]);
    }
    finally {
        clearTimeout(timer);
        if (grace)
            clearTimeout(grace);
        outer?.removeEventListener("abort", onOuterAbort);
    }
}


/***/ }),

/***/ 8382:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   cc: () => (/* binding */ CancelledError),
/* harmony export */   dZ: () => (/* binding */ throwIfCancelled),
/* harmony export */   eb: () => (/* binding */ UsageError),
/* harmony export */   xL: () => (/* binding */ ConfigError),
/* harmony export */   yo: () => (/* binding */ UserError)
/* harmony export */ });
/**
 * An error the operator can fix: it names the input, what was wrong and what to do next.
 * Adapters print its message alone (no stack), and exit non-zero.
 */
class UserError extends Error {
    name = "UserError";
}
/** Invalid configuration: a setting is missing or malformed. Adapters exit 78 (EX_CONFIG) for it. */
class ConfigError extends UserError {
    name = "ConfigError";
}
/** A usage error on the command line: unknown flag or missing value. The CLI exits 64 (EX_USAGE). */
class UsageError extends UserError {
    name = "UsageError";
}
/**
 * The run was stopped by SIGINT or SIGTERM: never a success. It is the abort reason of the run's
 * AbortSignal, and what the engines throw when they see it; adapters exit 130 or 143 for it.
 */
class CancelledError extends UserError {
    signalName;
    name = "CancelledError";
    constructor(signalName, message = `Cancelled by ${signalName}`, options) {
        super(message, options);
        this.signalName = signalName;
    }
}
/**
 * Throws when the run was cancelled: between steps, so that a cancelled run stops instead of going on
 * to a success. `what` says what was left undone ("the verification was cancelled; ...").
 */
function throwIfCancelled(signal, what) {
    if (!signal?.aborted)
        return;
    const reason = signal.reason;
    const name = reason instanceof CancelledError ? reason.signalName : "SIGTERM";
    throw new CancelledError(name, `${what} (${name})`, { cause: reason });
}


/***/ }),

/***/ 6822:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   P2: () => (/* binding */ isAlreadyThere),
/* harmony export */   e8: () => (/* binding */ networkCode),
/* harmony export */   lt: () => (/* binding */ DestinationError),
/* harmony export */   m_: () => (/* binding */ briefly)
/* harmony export */ });
/* harmony import */ var _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(8382);

/** A failure at one destination: the message names the destination, the object and what to do. */
class DestinationError extends _shared_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .UserError */ .yo {
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
/**
 * Whether a failed write was refused because an object of that name already exists (the conditional
 * write's 412 / 409), looking through the causes a store wraps around the SDK's error.
 */
function isAlreadyThere(err) {
    for (let e = err, depth = 0; e && depth < 5; depth++) {
        const meta = e.$metadata;
        const status = meta?.httpStatusCode ?? e.statusCode ?? e.code;
        if (status === 412 || status === 409 || e.name === "PreconditionFailed" || e.code === "BlobAlreadyExists")
            return true;
        e = e.cause;
    }
    return false;
}


/***/ }),

/***/ 6336:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   _w: () => (/* binding */ probeWrite),
/* harmony export */   iE: () => (/* binding */ MISSING_OBJECT_ADVICE),
/* harmony export */   iM: () => (/* binding */ parseBackupUri)
/* harmony export */ });
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);

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


/***/ }),

/***/ 8130:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   D6: () => (/* binding */ MIB),
/* harmony export */   UQ: () => (/* binding */ NETWORK_TIMEOUT_SETTING),
/* harmony export */   _M: () => (/* binding */ DEFAULT_TRANSFER),
/* harmony export */   bc: () => (/* binding */ PREFLIGHT_TIMEOUT_SETTING)
/* harmony export */ });
/* unused harmony export uploadMemoryBound */
const MIB = 1024 * 1024;
/** The settings behind the bounds, named in the errors a deadline raises. */
const NETWORK_TIMEOUT_SETTING = "BACKUP_NETWORK_TIMEOUT_SECONDS";
const PREFLIGHT_TIMEOUT_SETTING = "BACKUP_PREFLIGHT_TIMEOUT_SECONDS";
const DEFAULT_TRANSFER = {
    partSizeBytes: 8 * MIB,
    concurrency: 2,
    attempts: 4,
    cleanupAttempts: 6,
    requestTimeoutMs: 120_000,
    preflightTimeoutMs: 30_000,
    stallTimeoutMs: 300_000,
};
/** Peak buffered bytes of one upload, as documented: part size × (parts in flight + the one filling). */
function uploadMemoryBound(t) {
    return t.partSizeBytes * (t.concurrency + 1);
}


/***/ }),

/***/ 4390:
/***/ ((module) => {

module.exports = eval("require")("pg-native");


/***/ }),

/***/ 1622:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_MODULE_open__;

/***/ }),

/***/ 2613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 181:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("buffer");

/***/ }),

/***/ 5317:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("child_process");

/***/ }),

/***/ 6982:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("crypto");

/***/ }),

/***/ 2250:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("dns");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 9896:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");

/***/ }),

/***/ 8611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 5692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 9278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 6698:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");

/***/ }),

/***/ 4573:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:buffer");

/***/ }),

/***/ 1421:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");

/***/ }),

/***/ 7598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 3024:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");

/***/ }),

/***/ 1455:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");

/***/ }),

/***/ 7067:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 2467:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");

/***/ }),

/***/ 4708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");

/***/ }),

/***/ 7030:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");

/***/ }),

/***/ 8161:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");

/***/ }),

/***/ 6760:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");

/***/ }),

/***/ 1708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:process");

/***/ }),

/***/ 7075:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 7830:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream/web");

/***/ }),

/***/ 8500:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:timers/promises");

/***/ }),

/***/ 3136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 7975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 8522:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("os");

/***/ }),

/***/ 6928:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");

/***/ }),

/***/ 932:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("process");

/***/ }),

/***/ 3480:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("querystring");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("stream");

/***/ }),

/***/ 3193:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");

/***/ }),

/***/ 4756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 2018:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tty");

/***/ }),

/***/ 7016:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("url");

/***/ }),

/***/ 9023:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ }),

/***/ 8253:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util/types");

/***/ }),

/***/ 8167:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("worker_threads");

/***/ }),

/***/ 3106:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("zlib");

/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/create fake namespace object */
/******/ (() => {
/******/ 	var getProto = Object.getPrototypeOf ? (obj) => (Object.getPrototypeOf(obj)) : (obj) => (obj.__proto__);
/******/ 	var leafPrototypes;
/******/ 	// create a fake namespace object
/******/ 	// mode & 1: value is a module id, require it
/******/ 	// mode & 2: merge all properties of value into the ns
/******/ 	// mode & 4: return value when already ns object
/******/ 	// mode & 16: return value when it's Promise-like
/******/ 	// mode & 8|1: behave like require
/******/ 	__nccwpck_require__.t = function(value, mode) {
/******/ 		if(mode & 1) value = this(value);
/******/ 		if(mode & 8) return value;
/******/ 		if(typeof value === 'object' && value) {
/******/ 			if((mode & 4) && value.__esModule) return value;
/******/ 			if((mode & 16) && typeof value.then === 'function') return value;
/******/ 		}
/******/ 		var ns = Object.create(null);
/******/ 		__nccwpck_require__.r(ns);
/******/ 		var def = {};
/******/ 		leafPrototypes = leafPrototypes || [null, getProto({}), getProto([]), getProto(getProto)];
/******/ 		for(var current = mode & 2 && value; typeof current == 'object' && !~leafPrototypes.indexOf(current); current = getProto(current)) {
/******/ 			Object.getOwnPropertyNames(current).forEach((key) => (def[key] = () => (value[key])));
/******/ 		}
/******/ 		def['default'] = () => (value);
/******/ 		__nccwpck_require__.d(ns, def);
/******/ 		return ns;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(486);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 
