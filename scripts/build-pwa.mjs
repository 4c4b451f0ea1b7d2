// Copies the field app's libraries from node_modules (npm registry, package-lock.json) into pwa/vendor/ as
// ES modules the browser loads from us: never committed, never a CDN. esbuild only resolves each package's
// own imports into one file; the app's code is served as written.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "pwa", "vendor");

const entries = {
  // The tus project's client: resumable uploads, retries, offsets.
  "tus.js": 'export { Upload, DetailedError } from "tus-js-client";',
  // IndexedDB with promises and transactions that close themselves.
  "idb.js": 'export { openDB, deleteDB } from "idb";',
  // The service worker's precache: versioned per file, stale entries dropped on activation.
  "workbox.js": `export { precacheAndRoute, createHandlerBoundToURL, cleanupOutdatedCaches } from "workbox-precaching";
export { registerRoute, NavigationRoute } from "workbox-routing";`,
  // Maps: tiles, markers, accuracy circles, a scale (the ES module build; its CSS copied beside it).
  "leaflet.js": 'export * from "leaflet/dist/leaflet-src.esm.js";',
  // The risk dashboard's charts: light SVG.
  "chartist.js": 'export { BarChart } from "chartist";',
};

mkdirSync(out, { recursive: true });
for (const [name, contents] of Object.entries(entries)) {
  await build({
    stdin: { contents, resolveDir: root, loader: "js" },
    bundle: true,
    format: "esm",
    minify: true,
    target: "es2020",
    platform: "browser",
    define: { "process.env.NODE_ENV": '"production"' },
    legalComments: "eof",
    outfile: join(out, name),
    logLevel: "warning",
  });
}
copyFileSync(join(root, "node_modules", "leaflet", "dist", "leaflet.css"), join(out, "leaflet.css"));
copyFileSync(join(root, "node_modules", "chartist", "dist", "index.css"), join(out, "chartist.css"));
writeFileSync(join(out, ".built"), new Date().toISOString() + "\n");
