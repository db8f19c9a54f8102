import type { Logger } from "./logger.js";

/** Where a long run reports how far it is: a redrawn line on a terminal, a log line a minute in CI. */
export interface ProgressSink {
  update(text: string): void;
  done(): void;
}

/**
 * A line on a terminal redrawn at most once a second; nothing at all when `stream` is not a TTY (logs
 * and pipes stay clean).
 */
export function terminalProgress(stream: NodeJS.WriteStream): ProgressSink {
  let shown = false;
  let last = 0;
  return {
    update(text) {
      if (!stream.isTTY || Date.now() - last < 1000) return;
      last = Date.now();
      const width = Math.max(20, (stream.columns ?? 100) - 1);
      stream.write(`\r\x1b[2K${text.slice(0, width)}`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\r\x1b[2K");
      shown = false;
    },
  };
}

/** One log line every `everyMs` (a minute in an action's log), the first after `everyMs`. */
export function periodicLog(logger: Logger, everyMs = 60_000): ProgressSink {
  let last = Date.now();
  return {
    update(text) {
      if (Date.now() - last < everyMs) return;
      last = Date.now();
      logger.info(`Progress: ${text}`);
    },
    done() {},
  };
}

/** "1:05" or "1:02:03". */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}
