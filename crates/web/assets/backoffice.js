// Back office: receive stock against a supplier document, close a till with counted cash.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const money = (minor) => (minor < 0 ? "-" : "") + "$" + (Math.abs(minor) / 100).toFixed(2);
  function minorFrom(text) {
    const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
    return m ? parseInt(m[1], 10) * 100 + parseInt((m[2] || "0").padEnd(2, "0"), 10) : null;
  }
  async function api(method, path, body) {
    const r = await fetch(path, { method, credentials: "same-origin", headers: body ? { "content-type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await r.json(); } catch (_) {}
    if (r.status === 401) location.href = "/login";
    return { ok: r.ok, data };
  }
  const errorText = (d) => (d && d.error ? d.error.message : "The store node did not answer.");

  $("receive").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("receive-result");
    out.textContent = "";
    const code = $("rcv-product").value.trim();
    const p = await api("GET", /^\d{8,14}$/.test(code) ? "/api/barcodes/" + encodeURIComponent(code) : "/api/products?limit=1&q=" + encodeURIComponent(code));
    const product = Array.isArray(p.data) ? p.data[0] : p.data;
    if (!p.ok || !product) { out.textContent = p.ok ? "No product matches “" + code + "”." : errorText(p.data); out.className = "error"; return; }
    const qty = parseInt($("rcv-qty").value, 10);
    const r = await api("POST", "/api/stock/receive", {
      supplier: $("rcv-supplier").value, document: $("rcv-document").value,
      lines: [{ product_id: product.product_id, quantity: isNaN(qty) ? 0 : qty, lot_code: $("rcv-lot").value, unit_cost_minor: minorFrom($("rcv-cost").value) || 0 }],
    });
    out.className = r.ok ? "" : "error";
    out.textContent = r.ok ? "Received " + qty + " × " + product.name + " on " + $("rcv-document").value + "." : errorText(r.data);
  });

  const close = $("close-till");
  if (close) close.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("close-result");
    const counted = minorFrom($("counted").value);
    if (counted === null) { out.className = "error"; out.textContent = "Enter the counted cash, e.g. 412.50."; return; }
    const r = await api("POST", "/api/tills/" + encodeURIComponent(close.dataset.till) + "/close", { counted_minor: counted });
    out.className = r.ok ? "" : "error";
    out.textContent = r.ok ? "Till closed. Expected " + money(r.data.expected_minor) + ", counted " + money(r.data.counted_minor) + ", variance " + money(r.data.variance_minor) + "." : errorText(r.data);
  });
})();
