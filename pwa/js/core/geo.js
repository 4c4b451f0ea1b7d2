// Distances on the WGS-84 sphere, and where a visit's subject is declared to be.
export function haversine(a, b) {
  const rad = (d) => (d * Math.PI) / 180,
    R = 6371008.8;
  const dphi = rad(b.lat - a.lat),
    dl = rad(b.lon - a.lon);
  const x = Math.sin(dphi / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(x)));
}

export function siteOf(visit) {
  const site = (visit.collateral || visit.project)?.declared_site;
  return site ? { lat: site.wgs84_lat, lon: site.wgs84_lon, address: site.address } : null;
}

export async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// WGS-84 (GPS) → GCJ-02 (the datum Chinese map providers draw in), as api/kit/geo.py does it; outside China
// the two agree. tests/browser/test_maps.py holds both to the same answers.
const A = 6378245.0,
  EE = 0.00669342162296594323;

function shiftLat(x, y) {
  let ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin((y / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((160.0 * Math.sin((y / 12.0) * Math.PI) + 320 * Math.sin((y * Math.PI) / 30.0)) * 2.0) / 3.0;
  return ret;
}

function shiftLon(x, y) {
  let ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
  ret += ((20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0) / 3.0;
  ret += ((20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin((x / 3.0) * Math.PI)) * 2.0) / 3.0;
  ret += ((150.0 * Math.sin((x / 12.0) * Math.PI) + 300.0 * Math.sin((x / 30.0) * Math.PI)) * 2.0) / 3.0;
  return ret;
}

export function wgs84ToGcj02(lat, lon) {
  if (!(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271)) return [lat, lon];
  let dlat = shiftLat(lon - 105.0, lat - 35.0),
    dlon = shiftLon(lon - 105.0, lat - 35.0);
  const radlat = (lat / 180.0) * Math.PI,
    magic = 1 - EE * Math.sin(radlat) ** 2,
    sqrtmagic = Math.sqrt(magic);
  dlat = (dlat * 180.0) / (((A * (1 - EE)) / (magic * sqrtmagic)) * Math.PI);
  dlon = (dlon * 180.0) / ((A / sqrtmagic) * Math.cos(radlat) * Math.PI);
  return [lat + dlat, lon + dlon];
}

// A WGS-84 position where the map's tiles draw it.
export const onTiles = (datum, lat, lon) => (datum === "GCJ02" ? wgs84ToGcj02(lat, lon) : [lat, lon]);
