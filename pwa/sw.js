// The service worker: the app shell precached by Workbox (each file under its own revision, so the app
// opens with no network and an update fetches only what changed), and Background Sync of the signed-in
// manager's outbox where the browser has it. API calls are never cached here.
import {
  NavigationRoute,
  cleanupOutdatedCaches,
  createHandlerBoundToURL,
  precacheAndRoute,
  registerRoute,
} from "/app/vendor/workbox.js";
import { syncSignedIn } from "/app/js/core/sync.js";

// [{url, revision}] of every file of the shell, written in by the server (api/main.py: shell_manifest).
precacheAndRoute(self.__SHELL_MANIFEST__);
cleanupOutdatedCaches();
// The app routes by hash: every navigation to the app is the shell.
registerRoute(new NavigationRoute(createHandlerBoundToURL("/"), { allowlist: [/^\/$/, /^\/index\.html$/] }));

self.addEventListener("activate", (event) => {
  // Take the open pages at once (they were served by the network or the previous worker), and drop the
  // hand-written shell cache of earlier versions.
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith("fieldvisit-shell-")) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  if (event.data === "skipWaiting") self.skipWaiting();
});

self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  // Rejecting while parts remain makes the browser try again later.
  event.waitUntil(
    syncSignedIn().then((left) => {
      if (left > 0) throw new Error(`${left} part(s) still waiting`);
    }),
  );
});
