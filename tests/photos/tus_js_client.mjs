// Upload one file with tus-js-client (the tus project's own JavaScript client), as tests/photos/
// test_tus_js_client.py asks: node tus_js_client.mjs ENDPOINT TOKEN FILE METADATA_JSON [UPLOAD_URL]
// Prints {"ok": true, "url": ..., "bytes": ...} or {"ok": false, "error": ...} and exits 0 or 1.
import { readFileSync } from "node:fs";
import * as tus from "tus-js-client";

const [endpoint, token, file, metadataJson, uploadUrl] = process.argv.slice(2);
const data = readFileSync(file);
const upload = new tus.Upload(data, {
  endpoint,
  uploadUrl: uploadUrl || null,
  headers: { Authorization: `Bearer ${token}` },
  metadata: JSON.parse(metadataJson),
  chunkSize: 64 * 1024,
  retryDelays: [0, 200, 500],
  onError(error) {
    console.log(JSON.stringify({ ok: false, error: String(error) }));
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ ok: true, url: upload.url, bytes: data.length }));
  },
});
upload.start();
