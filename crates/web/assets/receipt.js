// Receipt page: voids and returns authorized by a manager's own credentials. The manager's
// token is used for that one request and signed out; the budtender's session is untouched.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const json = { "content-type": "application/json" };
  const message = (d, fallback) => (d && d.error ? d.error.message : fallback);

  async function asManager(prefix, method, path, body) {
    const l = await fetch("/api/login", { method: "POST", headers: json, credentials: "omit",
      body: JSON.stringify({ username: $(prefix + "-user").value, password: $(prefix + "-password").value, set_cookie: false }) });
    const who = await l.json().catch(() => null);
    if (!l.ok) return { ok: false, text: message(who, "Sign-in failed.") };
    const auth = { ...json, authorization: "Bearer " + who.token };
    const r = await fetch(path, { method, headers: auth, credentials: "omit", body: JSON.stringify(body) });
    const out = await r.json().catch(() => null);
    fetch("/api/logout", { method: "POST", headers: auth, credentials: "omit" });
    return { ok: r.ok, data: out, text: message(out, "The store node did not answer.") };
  }

  const voidForm = $("void");
  if (voidForm) voidForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    $("void-error").textContent = "";
    const r = await asManager("void", "POST", "/api/sales/" + encodeURIComponent(voidForm.dataset.sale) + "/void", { reason: $("void-reason").value });
    if (!r.ok) { $("void-error").textContent = r.text; return; }
    location.reload();
  });

  const ret = $("return");
  if (ret) ret.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("return-error");
    out.textContent = "";
    const lines = [];
    for (const input of ret.querySelectorAll("input.return-qty")) {
      const q = input.value.trim() === "" ? 0 : Number(input.value);
      if (!Number.isInteger(q) || q < 0) { out.textContent = "Return quantities are whole units."; input.focus(); return; }
      if (q > 0) lines.push({ line: Number(input.dataset.line), quantity: q, restock: $("restock-" + input.dataset.line).checked });
    }
    if (!lines.length) { out.textContent = "Enter how many units of which line come back."; return; }
    const r = await asManager("return", "POST", "/api/sales/" + encodeURIComponent(ret.dataset.sale) + "/returns",
      { till_id: ret.dataset.till, lines, reason: $("return-reason").value });
    if (!r.ok) { out.textContent = r.text; return; }
    location.reload();
  });
})();
