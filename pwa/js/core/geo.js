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
