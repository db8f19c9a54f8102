import type { PostgresServer } from "./services/postgres.js";

/**
 * A small `transcripts`-like schema: videos, transcripts, segments with text and jsonb, a sequence,
 * an index, a view and an extension-free function. `segments` scales the data.
 */
export async function seedTranscripts(
  server: PostgresServer,
  database: string,
  segments = 2000,
): Promise<void> {
  await server.query(
    database,
    `
    CREATE TABLE videos (
      id bigserial PRIMARY KEY,
      youtube_id text NOT NULL UNIQUE,
      title text NOT NULL,
      duration_seconds integer NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE transcripts (
      id bigserial PRIMARY KEY,
      video_id bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      language text NOT NULL DEFAULT 'en',
      model text NOT NULL,
      meta jsonb NOT NULL DEFAULT '{}'
    );
    CREATE TABLE segments (
      id bigserial PRIMARY KEY,
      transcript_id bigint NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
      start_ms integer NOT NULL,
      end_ms integer NOT NULL,
      speaker text,
      text text NOT NULL
    );
    CREATE INDEX segments_transcript_idx ON segments (transcript_id, start_ms);
    CREATE VIEW long_videos AS SELECT * FROM videos WHERE duration_seconds > 600;
    CREATE SCHEMA audit;
    CREATE TABLE audit.events (id serial PRIMARY KEY, at timestamptz NOT NULL, what text NOT NULL);
    `,
  );
  await server.query(
    database,
    `
    INSERT INTO videos (youtube_id, title, duration_seconds, created_at)
      SELECT 'yt' || g, 'Video ' || g || ' — naïve café ☕ ''quoted'' \\ backslash', 60 * g, '2024-10-01'::timestamptz + g * interval '1 hour'
      FROM generate_series(1, 20) g;
    INSERT INTO transcripts (video_id, model, meta)
      SELECT id, 'whisper-large-v3', jsonb_build_object('words', id * 100, 'tags', jsonb_build_array('a', 'b'))
      FROM videos;
    INSERT INTO segments (transcript_id, start_ms, end_ms, speaker, text)
      SELECT 1 + (g % 20), g * 1000, g * 1000 + 900, CASE WHEN g % 3 = 0 THEN NULL ELSE 'spk' || (g % 3) END,
             'Segment ' || g || E' with a tab\\tand newline\\n and unicode Ω ' || md5(g::text)
      FROM generate_series(1, ${Math.trunc(segments)}) g;
    INSERT INTO audit.events (at, what) SELECT now(), 'event ' || g FROM generate_series(1, 5) g;
    `,
  );
}

/** Per-table row counts and a content fingerprint (md5 of the ordered rows), for equality checks. */
export async function fingerprint(server: PostgresServer, database: string): Promise<Record<string, string>> {
  const tables = await server.query<{ t: string }>(
    database,
    `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
     WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
  );
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const [row] = await server.query<{ n: string; h: string }>(
      database,
      `SELECT count(*)::text AS n, coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') AS h FROM ${t} x`,
    );
    out[t] = `${row!.n}:${row!.h}`;
  }
  return out;
}
