// The service worker: the app shell from a versioned cache (so the app opens with no network), and
// Background Sync of the outbox where the browser has it. API calls are never cached here.
import { syncOutbox } from "/app/js/sync.js";

const VERSION = "__SHELL_VERSION__";
const CACHE = `fieldvisit-shell-${VERSION}`;
const SHELL = [
  "/", "/manifest.webmanifest", "/app/app.css", "/app/js/app.js", "/app/js/i18n.js", "/app/js/db.js",
  "/app/js/api.js", "/app/js/sync.js", "/app/icons/icon-192.png", "/app/icons/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" })))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key.startsWith("fieldvisit-shell-") && key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "skipWaiting") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  if (event.request.mode === "navigate") {
    event.respondWith(caches.match("/", { cacheName: CACHE }).then((hit) => hit || fetch(event.request)));
    return;
  }
  event.respondWith(caches.match(event.request, { cacheName: CACHE }).then((hit) => hit || fetch(event.request)));
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  // Rejecting while parts remain makes the browser try again later.
  event.waitUntil(syncOutbox().then((left) => { if (left > 0) throw new Error(`${left} part(s) still waiting`); }));
});
