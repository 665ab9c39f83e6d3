/* Preview page of one offering: WMS, tiles or GeoJSON on a plain background (no internet). */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("map-config").textContent);
  function loaded() { document.body.setAttribute("data-map-loaded", "true"); }
  if (config.kind === "none") { loaded(); return; }
  var b = config.bounds;
  var map = L.map("map", { zoomControl: true, attributionControl: false });
  map.fitBounds([[b[1], b[0]], [b[3], b[2]]]);
  var layer;
  if (config.kind === "wms") {
    layer = L.tileLayer.wms(config.url, {
      layers: config.layer, format: "image/png", transparent: true, version: "1.3.0", maxZoom: 22
    });
  } else if (config.kind === "tiles") {
    layer = L.tileLayer(config.url, {
      minZoom: 0, maxZoom: 22, maxNativeZoom: config.maxNativeZoom,
      bounds: [[b[1], b[0]], [b[3], b[2]]]
    });
  }
  if (layer) {
    var errors = 0;
    layer.on("tileload", loaded);
    layer.on("tileerror", function () { errors += 1; document.body.setAttribute("data-tile-errors", String(errors)); });
    layer.addTo(map);
    return;
  }
  fetch(config.url).then(function (r) { return r.json(); }).then(function (data) {
    L.geoJSON(data, { style: { color: "#28468c", weight: 1, fillOpacity: 0.4 },
      pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 4 }); } }).addTo(map);
    document.body.setAttribute("data-features", String(data.features.length));
    loaded();
  });
})();
