// The online shop: pick quantities, give the customer's details, place the order, show the
// tracking link and the one-time code (shown once).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const money = (minor) => "$" + (minor / 100).toFixed(2);
  $("order").addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("order-error");
    out.textContent = "";
    const lines = [];
    for (const q of document.querySelectorAll("input.qty")) {
      const n = q.value.trim() === "" ? 0 : Number(q.value);
      if (!Number.isInteger(n) || n < 0) { out.textContent = "Quantities are whole numbers."; q.focus(); return; }
      if (n > 0) lines.push({ product_id: q.dataset.product, quantity: n });
    }
    if (!lines.length) { out.textContent = "Choose at least one product."; return; }
    const kind = document.querySelector("input[name=kind]:checked").value;
    const opt = (id) => ($(id).value.trim() === "" ? null : $(id).value.trim());
    const body = { kind, lines, customer: { name: $("c-name").value, birth_date: $("c-birth").value, age_confirmed: $("c-age").checked,
      phone: opt("c-phone"), email: opt("c-email"), postal_code: opt("c-postal") } };
    const r = await fetch("/api/orders", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      const err = data && data.error;
      out.textContent = err ? (err.violations && err.violations.length ? err.violations.map((v) => v.message).join(" · ") : err.message) : "The store did not answer.";
      return;
    }
    $("order").hidden = true;
    const link = location.origin + "/track/" + data.tracking_token;
    $("placed").hidden = false;
    $("placed-total").textContent = money(data.total_minor);
    $("placed-link").href = link;
    $("placed-link").textContent = link;
    $("placed-code").textContent = data.code;
    $("placed-link").focus();
  });
})();
