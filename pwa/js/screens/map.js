// A map of where things are (Leaflet, from the npm registry, served by us): the declared site, a fix with
// its accuracy circle, photos' positions, a scale, the view fitted to them. Tiles come through our own
// address (core/tiles.js: kept on the phone first); positions, all WGS-84, are shifted to the tiles' datum.
// Without a tile provider the map still draws the positions and the scale on a plain ground.
import * as L from "../../vendor/leaflet.js";
import { h } from "../core/dom.js";
import { haversine, onTiles } from "../core/geo.js";
import { metres, t } from "../core/i18n.js";
import { mapSettings, tileUrl } from "../core/tiles.js";

// Tiles from the phone's store, else from our server, as blob URLs (an <img> cannot send the token).
export const StoredTiles = L.GridLayer.extend({
  createTile(coords, done) {
    const img = document.createElement("img");
    img.alt = "";
    img.setAttribute("role", "presentation");
    tileUrl(coords.z, coords.x, coords.y).then((url) => {
      if (!url) return done(new Error("no tile"), img);
      img.onload = () => {
        URL.revokeObjectURL(url);
        done(null, img);
      };
      img.onerror = () => done(new Error("bad tile"), img);
      img.src = url;
    });
    return img;
  },
});

const plain = (text) => {
  const node = document.createElement("span");
  node.textContent = text; // the attribution is configuration: text, never markup
  return node.innerHTML;
};

// points: [{kind: "site"|"fix"|"photo", lat, lon, accuracy_m?, title}]; returns a <figure>.
// offline: the view opens at a zoom the phone keeps tiles for (the work package's range).
export async function placeMap(points, { fixLabel = t("checkInPoint"), offline = false } = {}) {
  const settings = await mapSettings();
  const shown = points.filter((p) => Number.isFinite(p.lat) && Number.isFinite(p.lon));
  const site = shown.find((p) => p.kind === "site"),
    fix = shown.find((p) => p.kind === "fix");
  const label = site && fix ? `${fixLabel} ↔ ${t("declaredPoint")}: ${metres(haversine(site, fix))}` : "";
  const ground = h("div", {
    class: `map-view${settings.tiles ? "" : " no-tiles"}`,
    role: "region",
    "aria-label": label || t("map"),
  });
  const legend = (kind, text) =>
    h("span", { class: "legend" }, h("span", { class: `dot ${kind}`, "aria-hidden": "true" }), text);
  const figure = h(
    "figure",
    { class: "map-figure" },
    ground,
    h(
      "figcaption",
      { class: "muted" },
      legend("site", t("declaredPoint")),
      legend("fix", fixLabel),
      shown.some((p) => p.kind === "photo") ? legend("photo", t("photos")) : null,
      label ? ` · ${label}` : "",
      settings.tiles ? "" : ` · ${t("noTiles")}`,
    ),
  );
  if (!shown.length) {
    ground.replaceChildren(h("p", { class: "muted", text: t("unknown") }));
    return figure;
  }
  const at = (p) => onTiles(settings.datum, p.lat, p.lon);
  const map = L.map(ground, { attributionControl: Boolean(settings.attribution), maxZoom: settings.max_zoom });
  if (settings.attribution) map.attributionControl.setPrefix(false).addAttribution(plain(settings.attribution));
  if (settings.tiles) new StoredTiles({ maxZoom: settings.max_zoom, tileSize: 256 }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  if (site && fix) L.polyline([at(site), at(fix)], { className: "map-line", dashArray: "4" }).addTo(map);
  for (const p of shown) {
    if (p.kind === "fix" && p.accuracy_m > 0)
      L.circle(at(p), { radius: p.accuracy_m, className: "map-accuracy", interactive: false }).addTo(map);
    L.circleMarker(at(p), { radius: p.kind === "photo" ? 5 : 8, className: `map-point ${p.kind}` })
      .bindTooltip(p.title || (p.kind === "site" ? t("declaredPoint") : p.kind === "fix" ? fixLabel : t("photos")))
      .addTo(map);
  }
  const bounds = L.latLngBounds(shown.map(at));
  // Leaflet measures its box: fit the view once the figure is on the screen and has a size.
  const closest = Math.min(17, settings.max_zoom, offline && settings.offline ? settings.offline.max_zoom : 99);
  const fit = () => {
    map.invalidateSize();
    if (shown.length === 1) map.setView(at(shown[0]), Math.min(16, closest));
    else map.fitBounds(bounds, { padding: [24, 24], maxZoom: closest });
  };
  const watch = new ResizeObserver(() => {
    if (!ground.isConnected || !ground.clientWidth) return;
    watch.disconnect();
    fit();
  });
  watch.observe(ground);
  return figure;
}
