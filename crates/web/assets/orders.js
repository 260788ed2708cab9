// Staff: move online orders through their steps; hand over with the age check and payment.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  async function post(path, body) {
    const r = await fetch(path, { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const data = await r.json().catch(() => null);
    if (r.status === 401) location.href = "/login";
    return { ok: r.ok, data };
  }
  const errorText = (d) => (d && d.error ? (d.error.violations && d.error.violations.length ? d.error.violations.map((v) => v.message).join(" · ") : d.error.message) : "The store node did not answer.");
  for (const b of document.querySelectorAll("button[data-action]")) {
    b.addEventListener("click", async () => {
      const out = $("err-" + b.dataset.order);
      const r = await post("/api/orders/" + encodeURIComponent(b.dataset.order) + "/" + b.dataset.action, { reason: "" });
      if (!r.ok) { out.textContent = errorText(r.data); return; }
      location.reload();
    });
  }
  for (const f of document.querySelectorAll("form.handover")) {
    f.addEventListener("submit", async (e) => {
      e.preventDefault();
      const id = f.dataset.order, out = $("err-" + id);
      const r = await post("/api/orders/" + encodeURIComponent(id) + "/handover", {
        till_id: f.dataset.till, age_confirmed: $("age-" + id).checked,
        tenders: [{ kind: $("tender-" + id).value, amount_minor: Number(f.dataset.total) }],
      });
      if (!r.ok) { out.textContent = errorText(r.data); return; }
      location.reload();
    });
  }
})();
