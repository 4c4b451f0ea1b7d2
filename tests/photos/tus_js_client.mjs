// Upload one file with tus-js-client (the tus project's own JavaScript client), as tests/photos/
// test_tus_js_client.py asks: node tus_js_client.mjs ENDPOINT TOKEN FILE METADATA_JSON [UPLOAD_URL]
// With FIELDVISIT_FETCH_STACK=1 it uses the field app's own copy (pwa/vendor/tus.js, the browser build)
// over pwa/js/core/fetch-stack.js, as the service worker's Background Sync does, where there is no XMLHttpRequest.
// Prints {"ok": true, "url": ..., "bytes": ...} or {"ok": false, "error": ...} and exits 0 or 1.
import { readFileSync } from "node:fs";

const [endpoint, token, file, metadataJson, uploadUrl] = process.argv.slice(2);
const asWorker = process.env.FIELDVISIT_FETCH_STACK === "1";
const bytes = readFileSync(file);
let Upload,
  extra = {},
  data = bytes;
if (asWorker) {
  ({ Upload } = await import("../../pwa/vendor/tus.js"));
  const { FetchHttpStack } = await import("../../pwa/js/core/fetch-stack.js");
  extra = { httpStack: new FetchHttpStack(), storeFingerprintForResuming: false };
  data = new Blob([bytes], { type: "image/jpeg" });
} else {
  ({ Upload } = await import("tus-js-client"));
}
const upload = new Upload(data, {
  endpoint,
  uploadUrl: uploadUrl || null,
  headers: { Authorization: `Bearer ${token}` },
  metadata: JSON.parse(metadataJson),
  chunkSize: 64 * 1024,
  retryDelays: [0, 200, 500],
  ...extra,
  onError(error) {
    console.log(JSON.stringify({ ok: false, error: String(error) }));
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ ok: true, url: upload.url, bytes: bytes.length }));
  },
});
upload.start();
