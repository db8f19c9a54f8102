import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { GetObjectCommand, HeadObjectCommand, ListBucketsCommand } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { describe, expect, it } from "vitest";
import { useAzurite, useFakeGcs, useMinio } from "../support/cloud-fixtures.js";

// The harness itself: each emulator started by our code, driven through the official SDK the
// production adapters use, with an upload big enough to take the multi-part path (5 parts of 8 MiB).
const MiB = 1 << 20;
const payload = randomBytes(40 * MiB);
const payloadSha = sha256(payload);

function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** The payload as a stream of unknown length, as a dump pipeline produces it. */
function payloadStream(): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < payload.length; offset += MiB)
        yield payload.subarray(offset, offset + MiB);
    })(),
    { objectMode: false },
  );
}

async function streamSha(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(stream, hash);
  return hash.digest("hex");
}

describe("MinIO", () => {
  const minio = useMinio();

  it("takes a streamed multipart upload and keeps it across a crash and restart", async () => {
    const server = minio();
    await server.createBucket("lifeline-smoke");
    const client = server.client();
    try {
      const upload = new Upload({
        client,
        params: { Bucket: "lifeline-smoke", Key: "db/app.sql.gz", Body: payloadStream() },
        partSize: 8 * MiB,
        queueSize: 2,
      });
      await upload.done();

      const head = await client.send(
        new HeadObjectCommand({ Bucket: "lifeline-smoke", Key: "db/app.sql.gz" }),
      );
      expect(head.ContentLength).toBe(payload.length);
      expect(head.ETag).toMatch(/-5"$/); // a multipart ETag: 5 parts
      const object = await client.send(
        new GetObjectCommand({ Bucket: "lifeline-smoke", Key: "db/app.sql.gz" }),
      );
      expect(await streamSha(object.Body as NodeJS.ReadableStream)).toBe(payloadSha);

      await server.kill();
      await expect(client.send(new ListBucketsCommand({}))).rejects.toThrow(/ECONNREFUSED/);
      await server.restart();

      const again = await client.send(
        new GetObjectCommand({ Bucket: "lifeline-smoke", Key: "db/app.sql.gz" }),
      );
      expect(await streamSha(again.Body as NodeJS.ReadableStream)).toBe(payloadSha);
    } finally {
      client.destroy();
    }
  });
});

describe("fake-gcs-server", () => {
  const gcs = useFakeGcs();

  it("takes a chunked resumable upload with a storage class, and custom metadata updates", async () => {
    const server = gcs();
    await server.createBucket("lifeline-smoke");
    const file = server.storage().bucket("lifeline-smoke").file("db/app.sql.gz");

    // The session URL the server hands out must lead back to it, not to storage.googleapis.com.
    const [sessionUri] = await file.createResumableUpload();
    expect(sessionUri.startsWith(`${server.endpoint}/upload/storage/v1/b/lifeline-smoke/o?`)).toBe(true);

    await pipeline(
      payloadStream(),
      file.createWriteStream({
        resumable: true,
        chunkSize: 8 * MiB,
        metadata: { storageClass: "NEARLINE", metadata: { tier: "daily" } },
      }),
    );
    const [metadata] = await file.getMetadata();
    expect(Number(metadata.size)).toBe(payload.length);
    expect(metadata.storageClass).toBe("NEARLINE");
    // Under vitest, the client's HTTP layer (teeny-request 11) prints a harmless
    // MaxListenersExceededWarning while streaming this download; not a harness problem.
    expect(await streamSha(file.createReadStream())).toBe(payloadSha);

    await file.setMetadata({ metadata: { verified: "yes" } });
    const [updated] = await file.getMetadata();
    expect(updated.metadata).toEqual({ tier: "daily", verified: "yes" });
  });
});

describe("Azurite", () => {
  const azurite = useAzurite();

  it("takes a streamed block upload into the Cool tier", async () => {
    const server = azurite();
    await server.createContainer("lifeline-smoke");
    const blob = server
      .serviceClient()
      .getContainerClient("lifeline-smoke")
      .getBlockBlobClient("db/app.sql.gz");

    await blob.uploadStream(payloadStream(), 8 * MiB, 2, { tier: "Cool" });

    const blocks = await blob.getBlockList("committed");
    expect(blocks.committedBlocks?.map((block) => block.size)).toEqual([8, 8, 8, 8, 8].map((n) => n * MiB));
    const properties = await blob.getProperties();
    expect(properties.contentLength).toBe(payload.length);
    expect(properties.accessTier).toBe("Cool");
    const download = await blob.download();
    expect(await streamSha(download.readableStreamBody as NodeJS.ReadableStream)).toBe(payloadSha);
  });
});
