// The register: barcode or search → cart → limit meters → age → cash → receipt.
// Every change of the cart asks the store for a quote (prices, taxes, limits): one round trip.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const till = document.body.dataset.till;
  let cart = []; // {product_id, name, quantity}

  const money = (minor) => (minor < 0 ? "-" : "") + "$" + (Math.abs(minor) / 100).toFixed(2);
  // "20", "20.5", "20.05" → 2000, 2050, 2005 minor units, without floating point.
  function minorFrom(text) {
    const m = /^\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$/.exec(text);
    if (!m) return null;
    return parseInt(m[1], 10) * 100 + parseInt((m[2] || "0").padEnd(2, "0"), 10);
  }
  function showError(text) { $("error").textContent = text || ""; }

  async function api(method, path, body) {
    const r = await fetch(path, {
      method, credentials: "same-origin",
      headers: body ? { "content-type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    let data = null;
    try { data = await r.json(); } catch (_) { data = null; }
    if (r.status === 401) { location.href = "/login"; throw new Error("signed out"); }
    return { ok: r.ok, status: r.status, data };
  }
  function errorText(data) {
    const e = data && data.error;
    if (!e) return "The store node did not answer.";
    if (e.violations && e.violations.length) return e.violations.map((v) => v.message).join(" · ");
    return e.message;
  }

  function add(p) {
    const line = cart.find((l) => l.product_id === p.product_id);
    if (line) line.quantity += 1; else cart.push({ product_id: p.product_id, name: p.name, quantity: 1 });
    $("results").innerHTML = "";
    $("scan").value = "";
    $("scan").focus();
    return quote();
  }

  async function scan(text) {
    text = text.trim();
    if (!text) return;
    showError("");
    if (/^\d{8,14}$/.test(text)) {
      const r = await api("GET", "/api/barcodes/" + encodeURIComponent(text));
      if (!r.ok) { showError(errorText(r.data)); $("scan").select(); return; }
      return add(r.data);
    }
    const r = await api("GET", "/api/products?sellable=true&limit=10&q=" + encodeURIComponent(text));
    if (!r.ok) { showError(errorText(r.data)); return; }
    const list = $("results");
    list.innerHTML = "";
    if (!r.data.length) { showError("No product matches “" + text + "”."); return; }
    for (const p of r.data) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = p.name + " — " + money(p.price_minor || 0) + " (" + p.on_hand + " on hand)";
      b.addEventListener("click", () => add(p));
      li.appendChild(b);
      list.appendChild(li);
    }
    list.querySelector("button").focus();
  }

  async function quote() {
    const body = $("cart-body");
    body.innerHTML = "";
    $("limits").innerHTML = "";
    if (!cart.length) { $("subtotal").textContent = $("tax").textContent = $("total").textContent = money(0); return; }
    const r = await api("POST", "/api/cart/quote", { lines: cart.map((l) => ({ product_id: l.product_id, quantity: l.quantity })) });
    if (!r.ok) { showError(errorText(r.data)); return; }
    const q = r.data;
    q.lines.forEach((l, i) => {
      const tr = document.createElement("tr");
      tr.innerHTML = "<td></td><td class=num></td><td class=num></td><td><button type=button class=noprint>Remove</button></td>";
      tr.children[0].textContent = l.name;
      tr.children[1].textContent = l.quantity;
      tr.children[2].textContent = money(l.total_minor);
      tr.querySelector("button").setAttribute("aria-label", "Remove " + l.name);
      tr.querySelector("button").addEventListener("click", () => { cart.splice(i, 1); quote(); $("scan").focus(); });
      body.appendChild(tr);
    });
    for (const u of q.limits) {
      const div = document.createElement("div");
      div.className = "meter";
      const id = "meter-" + u.limit_id;
      div.innerHTML = "<label></label><meter min=0></meter> <span></span>";
      div.querySelector("label").textContent = u.label;
      div.querySelector("label").htmlFor = id;
      const m = div.querySelector("meter");
      m.id = id; m.max = u.max; m.value = Math.min(u.used, u.max); m.high = u.max * 0.8; m.optimum = 0;
      div.querySelector("span").textContent = u.used + " / " + u.max + " " + u.unit;
      $("limits").appendChild(div);
    }
    $("subtotal").textContent = money(q.subtotal_minor);
    $("tax").textContent = money(q.tax_minor);
    $("total").textContent = money(q.total_minor);
    $("total").dataset.minor = q.total_minor;
    const problems = q.violations.map((v) => v.message);
    if (q.short.length) problems.push("Not enough stock for " + q.lines.filter((l) => q.short.includes(l.product_id)).map((l) => l.name).join(", ") + ".");
    showError(problems.join(" · "));
  }

  async function pay(ev) {
    ev.preventDefault();
    showError("");
    if (!cart.length) { showError("The cart is empty."); return; }
    const cash = minorFrom($("cash").value);
    if (cash === null) { showError("Enter the cash received, e.g. 50 or 50.00."); $("cash").focus(); return; }
    const r = await api("POST", "/api/sales", {
      till_id: till,
      lines: cart.map((l) => ({ product_id: l.product_id, quantity: l.quantity })),
      customer: { age_confirmed: $("age").checked },
      tenders: [{ kind: "cash", amount_minor: cash }],
    });
    if (!r.ok) { showError(errorText(r.data)); return; }
    location.href = "/receipt/" + encodeURIComponent(r.data.sale_id);
  }

  async function banner() {
    const r = await api("GET", "/api/status");
    if (!r.ok) return;
    const s = r.data, b = $("banner");
    const waiting = s.unreplicated_entries;
    if (s.hq_status === "not enrolled") { b.className = "banner ok"; b.textContent = "Standalone store — selling normally"; return; }
    const failing = /failed/.test(s.hq_status);
    b.className = "banner " + (failing ? "warn" : "ok");
    const since = failing && s.hq_last_ok_ms ? " since " + new Date(s.hq_last_ok_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
    b.textContent = (failing ? "Head office unreachable" + since : "Head office connected") +
      " — " + waiting + " changes waiting to sync — selling normally";
  }

  // Quick switch on a shared till: the next budtender's PIN replaces the session.
  $("switch").addEventListener("submit", async (e) => {
    e.preventDefault();
    // Not through api(): a wrong PIN answers 401, which must not sign the current person out.
    const r = await fetch("/api/login/pin", { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: $("switch-name").value, pin: $("switch-pin").value }) });
    $("switch-pin").value = "";
    if (!r.ok) { $("switch-error").textContent = errorText(await r.json().catch(() => null)); $("switch-pin").focus(); return; }
    location.reload();
  });
  $("my-pin").addEventListener("submit", async (e) => {
    e.preventDefault();
    const r = await api("PUT", "/api/me/pin", { password: $("pin-password").value, pin: $("pin-new").value });
    $("pin-password").value = $("pin-new").value = "";
    const out = $("pin-result");
    out.className = r.ok ? "" : "error";
    out.textContent = r.ok ? "PIN saved. Use it to switch to yourself at any register." : errorText(r.data);
  });

  $("scan").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); scan($("scan").value); } });
  $("checkout").addEventListener("submit", pay);
  banner();
  setInterval(banner, 5000);
  quote();
})();
