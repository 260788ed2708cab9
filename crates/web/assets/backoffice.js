// Back office: receive, adjust, count, price changes, tills, staff. Every form answers in the
// page: what was recorded, or the store's refusal in words.
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
  const say = (out, ok, text) => { out.className = ok ? "" : "error"; out.textContent = text; };
  const whole = (id) => { const v = $(id).value.trim(); return /^-?\d+$/.test(v) ? parseInt(v, 10) : null; };

  // A barcode, an exact SKU, or the first product whose name, brand or category matches.
  async function findProduct(code) {
    code = code.trim();
    const p = await api("GET", /^\d{8,14}$/.test(code) ? "/api/barcodes/" + encodeURIComponent(code) : "/api/products?limit=1&q=" + encodeURIComponent(code));
    const product = Array.isArray(p.data) ? p.data[0] : p.data;
    if (!p.ok || !product) return { error: p.ok || (p.data && p.data.error && p.data.error.code === "not_found") ? "No product matches “" + code + "”." : errorText(p.data) };
    return { product };
  }
  function onSubmit(id, handler) {
    const f = $(id);
    if (f) f.addEventListener("submit", (e) => { e.preventDefault(); handler(f); });
  }

  onSubmit("receive", async () => {
    const out = $("receive-result");
    say(out, true, "");
    const { product, error } = await findProduct($("rcv-product").value);
    if (error) return say(out, false, error);
    const qty = whole("rcv-qty");
    const cost = $("rcv-cost").value.trim() === "" ? 0 : minorFrom($("rcv-cost").value);
    if (cost === null) return say(out, false, "Enter the unit cost as an amount, e.g. 12.50.");
    const r = await api("POST", "/api/stock/receive", {
      supplier: $("rcv-supplier").value, document: $("rcv-document").value,
      lines: [{ product_id: product.product_id, quantity: qty === null ? 0 : qty, lot_code: $("rcv-lot").value, unit_cost_minor: cost }],
    });
    say(out, r.ok, r.ok ? "Received " + qty + " × " + product.name + " on " + $("rcv-document").value + "." : errorText(r.data));
  });

  onSubmit("adjust", async () => {
    const out = $("adjust-result");
    say(out, true, "");
    const { product, error } = await findProduct($("adj-product").value);
    if (error) return say(out, false, error);
    const delta = whole("adj-delta");
    if (delta === null || delta === 0) return say(out, false, "Enter the change in whole units, e.g. -2 or 3.");
    const r = await api("POST", "/api/stock/adjust", { product_id: product.product_id, delta, reason: $("adj-reason").value, note: $("adj-note").value });
    say(out, r.ok, r.ok ? "Adjusted " + product.name + " by " + delta + " (" + $("adj-reason").selectedOptions[0].textContent + "): " + r.data.on_hand + " on hand." : errorText(r.data));
  });

  onSubmit("count", async () => {
    const out = $("count-result");
    say(out, true, "");
    const { product, error } = await findProduct($("cnt-product").value);
    if (error) return say(out, false, error);
    const counted = whole("cnt-counted");
    if (counted === null || counted < 0) return say(out, false, "Enter the units counted, 0 or more.");
    const r = await api("POST", "/api/stock/count", { lines: [{ product_id: product.product_id, counted }] });
    if (!r.ok) return say(out, false, errorText(r.data));
    const v = r.data.lines[0];
    say(out, true, product.name + ": expected " + v.expected + ", counted " + v.counted + ", variance " + (v.variance > 0 ? "+" : "") + v.variance + ".");
  });

  onSubmit("price", async () => {
    const out = $("price-result");
    say(out, true, "");
    const { product, error } = await findProduct($("price-product").value);
    if (error) return say(out, false, error);
    const price = minorFrom($("price-new").value);
    if (price === null) return say(out, false, "Enter the new price as an amount, e.g. 39.99.");
    const r = await api("POST", "/api/products/" + encodeURIComponent(product.product_id) + "/price", { price_minor: price });
    const was = product.price_minor == null ? "no price" : money(product.price_minor);
    say(out, r.ok, r.ok ? product.name + ": " + was + " → " + money(price) + "." : errorText(r.data));
  });

  for (const f of document.querySelectorAll("form.close-till")) {
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = $("close-result-" + f.dataset.register);
      const counted = minorFrom($("counted-" + f.dataset.register).value);
      if (counted === null) return say(out, false, "Enter the counted cash, e.g. 412.50.");
      const r = await api("POST", "/api/tills/" + encodeURIComponent(f.dataset.till) + "/close", { counted_minor: counted });
      say(out, r.ok, r.ok ? "Till closed. Expected " + money(r.data.expected_minor) + ", counted " + money(r.data.counted_minor) + ", variance " + money(r.data.variance_minor) + "." : errorText(r.data));
    });
  }

  onSubmit("open-till", async () => {
    const out = $("open-result");
    const float = minorFrom($("open-float").value);
    if (float === null) return say(out, false, "Enter the counted float, e.g. 200.00.");
    const r = await api("POST", "/api/tills", { register: $("open-register").value.trim(), float_minor: float });
    if (!r.ok) return say(out, false, errorText(r.data));
    location.reload();
  });

  onSubmit("add-staff", async () => {
    const out = $("staff-result");
    const r = await api("POST", "/api/staff", {
      username: $("staff-username").value.trim(), display_name: $("staff-name").value.trim(),
      role: $("staff-role").value, password: $("staff-password").value,
    });
    if (!r.ok) return say(out, false, errorText(r.data));
    location.reload();
  });
})();
