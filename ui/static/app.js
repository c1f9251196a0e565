/* The page: live state over SSE (polling as fallback), commands, history, settings. */
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const STATUS_TEXT = { 0: "Disconnected", 1: "Connected", 2: "Charging", 3: "Charged", 4: "Waiting for sun",
    5: "Waiting for RFID", 6: "Waiting for start", 7: "Low SOC", 8: "Ground test error", 9: "Welded contacts",
    10: "CP input test error", 11: "Residual current", 12: "Undervoltage", 13: "Overvoltage", 14: "Overheating",
    20: "Charging limit", 21: "Start charging", 22: "Switching to 3 phase", 23: "Switching to 1 phase", 24: "Stop charging" };
  const MODE3_TEXT = { A: "No car", B1: "Car connected", B2: "Car connected", C1: "Connected, not charging",
    C2: "Charging", D1: "Connected, not charging", D2: "Charging", E: "Error / idle", F: "Fault" };
  const TOKEN_KEY = "alfen-ui-token";
  // A user's change outranks the server's state this long: a status event may predate it.
  const USER_HOLD_MS = 4000;
  let last = null, writable = false, sliderBusyUntil = 0, modeBusyUntil = 0, es = null, pollTimer = null, tokenRequired = false;
  const chart = new window.Charts.CurrentChart($("graph"), 30 * 60);

  const num = (v) => typeof v === "number" && isFinite(v);
  const fmt = (v, d, unit) => (num(v) ? v.toFixed(d) + (unit ? " " + unit : "") : "—");
  function duration(s) {
    if (!num(s)) return "—";
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? h + " h " + String(m).padStart(2, "0") + " min" : m + " min";
  }
  function toast(msg, bad) {
    const t = $("toast");
    t.textContent = msg; t.dataset.kind = bad ? "bad" : ""; t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.hidden = true), bad ? 6000 : 2500);
  }

  // ---- API with the token (asked once, kept in localStorage) --------------------------
  function askToken() {
    return new Promise((resolve) => {
      const d = $("token-dialog"), input = $("token-input");
      input.value = "";
      const done = (ok) => { d.close(); resolve(ok ? input.value.trim() : null); };
      $("token-form").onsubmit = (e) => { e.preventDefault(); done(true); };
      $("token-cancel").onclick = () => done(false);
      d.showModal(); input.focus();
    });
  }
  async function send(method, url, body, retried) {
    const headers = { "Content-Type": "application/json" };
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let resp;
    try {
      resp = await fetch(url, { method: method, headers: headers, body: JSON.stringify(body) });
    } catch (e) {
      toast("The UI server is unreachable", true);
      return { ok: false, status: 0, data: {} };
    }
    const data = await resp.json().catch(() => ({}));
    if (resp.status === 401 && !retried) {
      localStorage.removeItem(TOKEN_KEY);
      const t = await askToken();
      if (t) { localStorage.setItem(TOKEN_KEY, t); return send(method, url, body, true); }
    }
    if (!resp.ok && resp.status !== 422) toast(data.error || "Request failed (" + resp.status + ")", true);
    return { ok: resp.ok, status: resp.status, data: data };
  }

  // ---- live state -----------------------------------------------------------------------
  function setPill(id, state) { $(id).dataset.state = state; }
  function render(s) {
    last = s;
    const on = s.online || {};
    tokenRequired = !!(s.web && s.web.token_required);
    setPill("pill-broker", on.broker ? "online" : "offline");
    setPill("pill-charger", on.charger ? "online" : "offline");
    setPill("pill-controller", on.controller ? "online" : "offline");
    const down = [];
    if (!on.broker) down.push("MQTT broker unreachable");
    else {
      if (!on.bridge) down.push("charger bridge offline");
      else if (!on.charger) down.push("charger not responding");
      if (!on.controller) down.push("controller offline");
    }
    const banner = $("offline-banner");
    banner.hidden = !down.length;
    banner.textContent = down.length ? capital(down.join(" · ")) + " — controls are disabled until it is back." : "";
    writable = down.length === 0;
    for (const el of document.querySelectorAll("#mode-group input, #current, #startstop")) el.disabled = !writable;

    const st = s.state || {}, ctl = s.control || {}, info = s.info || {};
    $("charger-name").textContent = [info.manufacturer || "Alfen", info.name, info.serial].filter(Boolean).join(" · ");
    const pw = on.charger && num(st.power_w) ? st.power_w / 1000 : null;
    $("power").textContent = pw === null ? "—" : pw.toFixed(pw >= 10 ? 1 : 2);
    const ph = ["l1", "l2", "l3"].map((k, i) => "L" + (i + 1) + " " + (on.charger && st[k] ? fmt(st[k].current_a, 1, "A") : "—"));
    $("phases").textContent = ph.join(" · ") + (num(st.phases_measured) && on.charger ? " · " + st.phases_measured + "-phase" : "");

    let text, kind = "idle";
    if (s.control && on.controller) {
      text = ctl.status_text || STATUS_TEXT[ctl.status] || "Status " + ctl.status;
      kind = ctl.status === 2 ? "charging" : ctl.status >= 8 && ctl.status <= 14 ? "bad" : [4, 5, 6, 7, 20].includes(ctl.status) ? "warn" : ctl.status === 0 ? "idle" : "";
      $("reason").textContent = ctl.reason || "";
    } else {
      text = on.charger ? MODE3_TEXT[st.mode3] || "State " + (st.mode3 || "unknown") : "Offline";
      kind = on.charger ? "" : "bad";
      $("reason").textContent = on.charger ? "Controller offline: showing the charger's own state." : "No data from the charger.";
    }
    $("status-badge").textContent = text; $("status-badge").dataset.kind = kind;
    const meta = [];
    if (num(ctl.commanded_current_a) && on.controller) meta.push("commanded " + fmt(ctl.commanded_current_a, 1, "A"));
    const bc = on.controller && ctl.battery_check;  // AUTO's battery check: the capacity it works with
    if (bc && num(bc.capacity_kwh)) meta.push("battery " + fmt(bc.capacity_kwh, 1, "kWh") + (bc.learned ? " (learned)" : "") + (bc.fills === false ? ", keeps its charge today" : ""));
    if (on.charger && num(st.applied_max_current_a)) meta.push("applied " + fmt(st.applied_max_current_a, 1, "A"));
    if (on.charger && st.mode3) meta.push("Mode 3 " + st.mode3);
    if (on.charger && num(st.temperature_c)) meta.push(fmt(st.temperature_c, 0, "°C"));
    $("meta").textContent = meta.join(" · ");

    // The checked radio is the user's pick until the controller reports it or the hold runs out.
    const picked = document.querySelector("#mode-group input:checked");
    if (picked && Number(picked.value) === ctl.mode) modeBusyUntil = 0;
    if (num(ctl.mode) && Date.now() > modeBusyUntil) { const r = $("mode-" + ctl.mode); if (r) r.checked = true; }
    const smax = num(s.station_max_current_a) ? s.station_max_current_a : num(ctl.max_current_a) ? ctl.max_current_a : 32;
    const slider = $("current");
    slider.max = String(Math.max(6, Math.floor(smax)));
    $("current-max").textContent = fmt(smax, 0);
    if (Date.now() > sliderBusyUntil && num(ctl.set_current_a)) {
      slider.value = String(ctl.set_current_a);
      $("current-out").textContent = fmt(ctl.set_current_a, 0, "A");
    }
    const enabled = ctl.enabled === true;
    const ss = $("startstop");
    ss.dataset.on = String(enabled);
    ss.textContent = enabled ? "Stop charging" : "Start charging";
    ss.setAttribute("aria-pressed", String(enabled));

    renderSession(ctl.session || {}, s.currency_symbol || "€");
    renderPrices(ctl, s.currency_symbol || "€", s.ts);
    if (s.sample) chart.push(s.sample);
    const g = s.sample;
    $("graph-summary").textContent = g && num(g.actual_a)
      ? "Now " + fmt(g.actual_a, 1, "A") + " of " + fmt(g.allowed_a, 1, "A") + " allowed" + (num(g.max_a) ? " (station max " + fmt(g.max_a, 0, "A") + ")" : "") + " · last 30 minutes"
      : "Last 30 minutes.";
  }
  function capital(t) { return t.charAt(0).toUpperCase() + t.slice(1); }
  function renderSession(se, sym) {
    $("session-tag").textContent = se.active ? "active" : se.start ? "last" : "";
    $("s-time").textContent = duration(se.time_s);
    $("s-energy").textContent = fmt(se.energy_kwh, 2, "kWh");
    $("s-cost").textContent = num(se.cost) ? sym + " " + se.cost.toFixed(2) : "—";
    $("s-solar").textContent = num(se.solar_share) ? Math.round(se.solar_share * 100) + " %" : "—";
  }
  function renderPrices(ctl, sym, now) {
    const plan = Array.isArray(ctl.plan) ? ctl.plan : [];
    const show = plan.length > 0 && (ctl.mode === 2 || plan.some((p) => num(p.price)));
    $("prices-card").hidden = !show;
    $("price-now").textContent = num(ctl.price_now) ? sym + " " + ctl.price_now.toFixed(3) + "/kWh" : "—";
    if (!show) return;
    const key = JSON.stringify(plan) + Math.floor(now / 60);
    if (renderPrices.key !== key) { renderPrices.key = key; window.Charts.drawPrices($("prices"), plan, now, sym); }
    const charging = plan.filter((p) => p.charge);
    const h = window.Charts.hhmm;
    $("plan-summary").textContent = charging.length
      ? "Charging planned in " + charging.length + " slot" + (charging.length > 1 ? "s" : "") + ", first " + h(charging[0].start) + "–" + h(charging[0].end) + "."
      : ctl.mode === 2 ? "No charging slots planned." : "Prices for today and tomorrow.";
  }

  function connect() {
    if (es) es.close();
    es = new EventSource("/api/events");
    es.addEventListener("status", (e) => { stopPolling(); render(JSON.parse(e.data)); });
    es.onerror = () => { if (es.readyState === EventSource.CLOSED) { startPolling(); setTimeout(connect, 15000); } };
  }
  async function poll() {
    try {
      const r = await fetch("/api/status", { cache: "no-store" });
      if (r.ok) render(await r.json());
    } catch (e) { serverGone(); }
  }
  function startPolling() { if (!pollTimer) pollTimer = setInterval(poll, 2000); poll(); }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }
  function serverGone() {
    for (const p of ["pill-broker", "pill-charger", "pill-controller"]) setPill(p, "unknown");
    const b = $("offline-banner"); b.hidden = false; b.textContent = "The UI server is unreachable — retrying…";
    for (const el of document.querySelectorAll("#mode-group input, #current, #startstop")) el.disabled = true;
  }

  // ---- controls ---------------------------------------------------------------------------
  for (const r of document.querySelectorAll("#mode-group input")) {
    r.addEventListener("change", async () => {
      modeBusyUntil = Date.now() + USER_HOLD_MS;
      const res = await send("POST", "/api/mode", { mode: Number(r.value) });
      if (res.ok) toast("Mode: " + r.nextElementSibling.textContent);
      else { modeBusyUntil = 0; if (last) render(last); }
    });
  }
  const slider = $("current");
  slider.addEventListener("input", () => { sliderBusyUntil = Date.now() + USER_HOLD_MS; $("current-out").textContent = slider.value + " A"; });
  slider.addEventListener("change", async () => {
    sliderBusyUntil = Date.now() + USER_HOLD_MS;
    const res = await send("POST", "/api/set_current", { amps: Number(slider.value) });
    if (res.ok) toast("Charging current " + slider.value + " A");
  });
  $("startstop").addEventListener("click", async () => {
    const enable = $("startstop").dataset.on !== "true";
    const res = await send("POST", "/api/startstop", { enabled: enable });
    if (res.ok) toast(enable ? "Charging enabled" : "Charging stopped");
  });

  // ---- views ------------------------------------------------------------------------------
  function route() {
    const view = (location.hash || "#dashboard").slice(1);
    const known = ["dashboard", "history", "settings"].includes(view) ? view : "dashboard";
    for (const v of ["dashboard", "history", "settings"]) {
      $("view-" + v).hidden = v !== known;
      if (v === known) $("tab-" + v).setAttribute("aria-current", "page"); else $("tab-" + v).removeAttribute("aria-current");
    }
    if (known === "history") loadSessions();
    if (known === "settings" && !settings.loaded) loadSettings();
    if (known === "dashboard") chart.draw();
  }
  window.addEventListener("hashchange", route);

  async function loadSessions() {
    const body = $("sessions-body");
    try {
      const r = await fetch("/api/sessions", { cache: "no-store" });
      const data = await r.json();
      const sym = (last && last.currency_symbol) || "€";
      body.textContent = "";
      if (!data.sessions || !data.sessions.length) {
        body.innerHTML = '<tr><td colspan="5" class="empty">No charging sessions recorded yet.</td></tr>';
        return;
      }
      for (const s of data.sessions) {
        const tr = document.createElement("tr");
        const start = num(s.start) ? new Date(s.start * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—";
        const cells = [start, duration(s.duration_s), fmt(s.energy_kwh, 2, "kWh"), num(s.cost) ? sym + " " + s.cost.toFixed(2) : "—", num(s.solar_share) ? Math.round(s.solar_share * 100) + " %" : "—"];
        cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i >= 2) td.className = "num"; tr.appendChild(td); });
        body.appendChild(tr);
      }
    } catch (e) {
      body.innerHTML = '<tr><td colspan="5" class="empty">Could not load the history.</td></tr>';
    }
  }

  const settings = { loaded: false, schema: null, config: null };
  async function loadSettings() {
    const msg = $("config-msg");
    msg.textContent = ""; msg.dataset.kind = "";
    try {
      const [schema, config] = await Promise.all([
        fetch("/api/config/schema").then((r) => r.json()),
        fetch("/api/config", { cache: "no-store" }).then((r) => { if (!r.ok) throw new Error("config"); settings.readOnly = r.headers.get("X-Config-Read-Only"); return r.json(); }),
      ]);
      settings.schema = schema; settings.config = config; settings.loaded = true;
      window.ConfigEditor.build($("config-sections"), schema, config);
      if (settings.readOnly) { msg.textContent = settings.readOnly + ": changes cannot be saved from here."; msg.dataset.kind = "bad"; }
    } catch (e) {
      msg.textContent = "Could not load the configuration."; msg.dataset.kind = "bad";
    }
  }
  $("config-reload").addEventListener("click", () => { settings.loaded = false; loadSettings(); });
  $("config-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ed = window.ConfigEditor, msg = $("config-msg");
    ed.clearErrors();
    const body = ed.changes(settings.config, settings.schema);
    $("config-save").disabled = true;
    const res = await send("PATCH", "/api/config", body);
    $("config-save").disabled = false;
    if (res.ok) {
      settings.config = res.data.config;
      ed.build($("config-sections"), settings.schema, settings.config);
      const restart = res.data.restart_required || [];
      msg.dataset.kind = "good";
      msg.textContent = (res.data.changed && res.data.changed.length ? "Saved: " + res.data.changed.join(", ") + "." : "Saved (no changes).") +
        (restart.length ? " Restart the UI to apply " + restart.join(", ") + "." : "") +
        (res.data.message ? " " + res.data.message + "." : "");
      toast("Settings saved");
    } else if (res.status === 422) {
      const rest = ed.showErrors(res.data.errors || []);
      msg.dataset.kind = "bad";
      const n = (res.data.errors || []).length;
      msg.textContent = "Not saved: " + n + " problem" + (n === 1 ? "" : "s") + (rest.length ? " — " + rest.map((r) => (r.path ? r.path + ": " : "") + r.message).join("; ") : " (shown next to the fields).");
    } else {
      msg.dataset.kind = "bad";
      msg.textContent = "Not saved: " + (res.data.error || "the server answered " + res.status);
    }
  });

  // ---- start ------------------------------------------------------------------------------
  fetch("/api/graph").then((r) => r.json()).then((g) => chart.load(g)).catch(() => {});
  route();
  poll();
  connect();
})();
