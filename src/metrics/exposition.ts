/** One sample in the Prometheus text exposition format. */
export interface Sample {
  readonly name: string;
  readonly help: string;
  readonly type: "gauge" | "counter";
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A gauge: every metric Lifeline exposes is one (a last status, a duration, a timestamp, a size). */
export function gauge(
  name: string,
  help: string,
  labels: Readonly<Record<string, string>>,
  value: number,
): Sample {
  return { name, help, type: "gauge", labels, value };
}

/** A time as Prometheus timestamps are exposed: whole seconds since the epoch. */
export function unixSeconds(at: Date): number {
  return Math.floor(at.getTime() / 1000);
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const inner = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
    .join(",");
  return inner ? `${name}{${inner}}` : name;
}

/** Renders samples as text format 0.0.4: HELP and TYPE once per metric name, then its series. */
export function renderExposition(samples: readonly Sample[]): string {
  const byName = new Map<string, Sample[]>();
  for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const lines: string[] = [];
  for (const [name, series] of byName) {
    lines.push(`# HELP ${name} ${series[0]!.help}`, `# TYPE ${name} ${series[0]!.type}`);
    for (const s of series)
      lines.push(`${seriesKey(name, s.labels)} ${Number.isInteger(s.value) ? s.value : s.value.toFixed(3)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Reads back the samples of a text exposition (as written by `renderExposition`). */
export function parseExposition(text: string): Sample[] {
  const help = new Map<string, string>();
  const type = new Map<string, "gauge" | "counter">();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const h = /^# HELP (\S+) (.*)$/.exec(line);
    if (h) help.set(h[1]!, h[2]!);
    const t = /^# TYPE (\S+) (gauge|counter)$/.exec(line);
    if (t) type.set(t[1]!, t[2] as "gauge" | "counter");
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    samples.push({
      name: m[1]!,
      help: help.get(m[1]!) ?? m[1]!,
      type: type.get(m[1]!) ?? "gauge",
      labels,
      value: Number(m[3]),
    });
  }
  return samples;
}
