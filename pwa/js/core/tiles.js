// Map tiles on the phone. When the work package is downloaded, the tiles around each site (the server's
// radius and zoom range) are kept in the signed-in user's own database, lowest zooms first and up to a size
// cap, so every site has at least an overview when the cap is reached. Maps read a tile from there first and
// from the server (our own address, never the provider's) otherwise.
import * as store from "./store.js";
import { request } from "./api.js";
import { onTiles, siteOf } from "./geo.js";

const TILE = "tile:";
const PARALLEL = 4;

// The server's map settings, kept with the package so maps draw offline; {tiles: false} when unknown. Asked of
// the server once per page load (every map drawn after that reuses the answer); `fresh` asks again, as
// downloading the package does.
let asked = null;
export function mapSettings({ fresh = false } = {}) {
  if (fresh || !asked) asked = loadMapSettings();
  return asked;
}

async function loadMapSettings() {
  try {
    const answer = await request("/api/v1/map");
    if (answer.ok) {
      const settings = await answer.json();
      if (store.boundTo()) await store.put("kv", settings, "map");
      return settings;
    }
  } catch {
    /* offline: what was kept */
  }
  return (store.boundTo() && (await store.get("kv", "map"))) || { tiles: false, datum: "WGS84", max_zoom: 18 };
}

// Web Mercator tile numbers of a position at a zoom.
export function tileOf(lat, lon, z) {
  const n = 2 ** z,
    rad = (lat * Math.PI) / 180;
  const x = Math.floor(((lon + 180) / 360) * n);
  const y = Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n);
  return [Math.min(n - 1, Math.max(0, x)), Math.min(n - 1, Math.max(0, y))];
}

// "z/x/y" of every tile within radius metres of a position (in the tiles' datum), for one zoom.
export function tilesAround(lat, lon, radiusM, z) {
  const dLat = radiusM / 111320,
    dLon = radiusM / (111320 * Math.max(0.01, Math.cos((lat * Math.PI) / 180)));
  const [x0, y0] = tileOf(lat + dLat, lon - dLon, z),
    [x1, y1] = tileOf(lat - dLat, lon + dLon, z);
  const found = [];
  for (let x = x0; x <= x1; x++) for (let y = y0; y <= y1; y++) found.push(`${z}/${x}/${y}`);
  return found;
}

// Keeps the tiles the day's sites need and drops the others; returns {tiles, bytes} kept.
export async function keepTiles(entries) {
  const settings = await mapSettings({ fresh: true });
  const wanted = [];
  if (settings.tiles && settings.offline.radius_m > 0) {
    const sites = entries.map((entry) => siteOf(entry.visit)).filter(Boolean);
    for (let z = settings.offline.min_zoom; z <= settings.offline.max_zoom; z++)
      for (const site of sites)
        wanted.push(...tilesAround(...onTiles(settings.datum, site.lat, site.lon), settings.offline.radius_m, z));
  }
  const order = [...new Set(wanted)];
  const keys = new Set((await store.keys("kv")).filter((key) => String(key).startsWith(TILE)));
  const budget = settings.offline?.max_bytes || 0;
  let bytes = 0,
    kept = 0,
    offline = false;
  const keep = new Set();
  // Tiles already kept count first, in the same order, so a refresh keeps what it had.
  for (const tile of order) {
    if (!keys.has(TILE + tile)) continue;
    const blob = await store.get("kv", TILE + tile);
    if (bytes + blob.size > budget) break;
    bytes += blob.size;
    kept += 1;
    keep.add(tile);
  }
  for (const key of keys) if (!keep.has(String(key).slice(TILE.length))) await store.del("kv", key);
  const missing = order.filter((tile) => !keep.has(tile));
  let next = 0;
  const worker = async () => {
    while (next < missing.length && !offline && bytes < budget) {
      const tile = missing[next++];
      try {
        const answer = await request(`/api/v1/map/tiles/${tile}`);
        if (!answer.ok) continue; // the provider has none here, or failed: the map shows a blank square
        const blob = await answer.blob();
        if (bytes + blob.size > budget) return;
        bytes += blob.size;
        kept += 1;
        await store.put("kv", blob, TILE + tile);
      } catch {
        offline = true; // the next download fetches the rest
      }
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  const stats = { tiles: kept, bytes };
  await store.put("kv", stats, "tileStats");
  return stats;
}

export const tileStats = async () => (await store.get("kv", "tileStats")) || { tiles: 0, bytes: 0 };

// A tile as a URL an <img> can show: kept on the phone, else from the server; "" when neither has it.
export async function tileUrl(z, x, y) {
  const blob = store.boundTo() ? await store.get("kv", `${TILE}${z}/${x}/${y}`) : null;
  if (blob) return URL.createObjectURL(blob);
  try {
    const answer = await request(`/api/v1/map/tiles/${z}/${x}/${y}`);
    return answer.ok ? URL.createObjectURL(await answer.blob()) : "";
  } catch {
    return "";
  }
}
