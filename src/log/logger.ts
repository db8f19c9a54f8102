import { closeSync, openSync, writeSync } from "node:fs";
import path from "node:path";
import { describeWriteFailure } from "../shared/write-failure.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Where log lines go: the terminal, the runner's log, a file. */
export interface LogSink {
  write(level: LogLevel, message: string, at: Date): void;
  close?(): void;
}

/** Shorter secrets are not masked: masking "a" or "pw" would blank that text in every log line. */
export const MIN_SECRET_LENGTH = 3;

/**
 * The engine's logger: every line goes to every sink, with registered secrets replaced by ***.
 * Redaction here is a second line of defence; secrets are kept out of messages in the first place.
 */
export class Logger {
  private readonly sinks: LogSink[];
  private readonly secrets = new Set<string>();

  constructor(...sinks: LogSink[]) {
    this.sinks = sinks;
  }

  addSink(sink: LogSink): void {
    this.sinks.push(sink);
  }

  removeSink(sink: LogSink): void {
    const i = this.sinks.indexOf(sink);
    if (i >= 0) this.sinks.splice(i, 1);
    sink.close?.();
  }

  /** Registers a value that must never be written (a password, a token). */
  addSecret(secret: string | undefined): void {
    if (secret && secret.length >= MIN_SECRET_LENGTH) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      out = out.split(secret).join("***");
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) out = out.split(encoded).join("***");
    }
    return out;
  }

  private emit(level: LogLevel, message: string): void {
    const at = new Date();
    const line = showControls(this.redact(message));
    const failed: Error[] = [];
    for (const sink of [...this.sinks]) {
      try {
        sink.write(level, line, at);
      } catch (err) {
        // A sink that cannot be written (a log file on a full disk) is dropped, never the run.
        this.sinks.splice(this.sinks.indexOf(sink), 1);
        failed.push(err as Error);
      }
    }
    for (const err of failed) {
      this.emit("warn", `${err.message}; that log stops here, the other logs go on`);
    }
  }

  debug(message: string): void {
    this.emit("debug", message);
  }
  info(message: string): void {
    this.emit("info", message);
  }
  warn(message: string): void {
    this.emit("warn", message);
  }
  error(message: string): void {
    this.emit("error", message);
  }
}

const formatLine = (level: LogLevel, message: string, at: Date): string =>
  `${at.toISOString()} ${level.toUpperCase().padEnd(5)} ${message}\n`;

/** Timestamped lines on a stream (stderr for the CLI, so stdout stays clean for data such as JSON). */
export function streamSink(stream: NodeJS.WritableStream, minLevel: LogLevel = "info"): LogSink {
  const order: LogLevel[] = ["debug", "info", "warn", "error"];
  return {
    write(level, message, at) {
      if (order.indexOf(level) >= order.indexOf(minLevel)) stream.write(formatLine(level, message, at));
    },
  };
}

/**
 * Appends to a log file such as BACKUP_DIR/logs/backup_YYYYMMDD.log. Writes are synchronous so that a
 * crash still leaves every line before it on disk, in order.
 */
export class FileSink implements LogSink {
  private fd: number | undefined;

  constructor(readonly path: string) {
    try {
      this.fd = openSync(path, "a", 0o640);
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** Throws once when the file cannot be written (then it is closed and writes are skipped). */
  write(level: LogLevel, message: string, at: Date): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, formatLine(level, message, at));
    } catch (err) {
      this.close();
      throw this.failure(err);
    }
  }

  private failure(err: unknown): Error {
    const dir = path.dirname(this.path);
    const described = describeWriteFailure(err, `the log directory '${dir}'`, dir, path.basename(this.path));
    return described === err
      ? new Error(`Cannot write the log file ${this.path}: ${(err as Error).message}`, { cause: err })
      : described;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Control characters made visible (ESC as \x1b, CR as \r): a file or object name from a backup
 * directory or bucket may hold them, and a terminal would obey them (erase a FAILED line, print "OK").
 * Newlines and tabs stay: messages may be several lines.
 */
export function showControls(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g, (c) =>
    c === "\r" ? "\\r" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}
