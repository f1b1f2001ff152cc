// Keeps the page working offline once it has loaded: every file is cached on first visit and
// served from the cache afterwards (the network refreshes the cache when it is there).
const CACHE = 'zabkeeper-v1';
const FILES = ['./', 'index.html', 'app.js', 'style.css', 'pkg/zabkeeper_wasm.js', 'pkg/zabkeeper_wasm_bg.wasm'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(FILES)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (e) => {
  if (e.request.method !== 'GET') return;
  e.respondWith(
    fetch(e.request)
      .then((r) => {
        const copy = r.clone();
        caches.open(CACHE).then((c) => c.put(e.request, copy));
        return r;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true })),
  );
});
