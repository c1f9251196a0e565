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
  // The slider sends one command once the user has stopped moving it this long (not one per step).
  const SLIDER_SETTLE_MS = 700;
  const MODE_WORD = { 1: "AUTO", 2: "SCHEDULED" };
  let last = null, writable = false, sliderBusyUntil = 0, modeBusyUntil = 0, es = null, pollTimer = null, tokenRequired = false;
  let prices = { slots: [] }, pricesVersion = null;
  const chart = new window.Charts.CurrentChart($("graph"), 30 * 60);
  const powerChart = new window.Charts.PowerChart($("power-graph"), 3 * 3600, [
    { key: "grid_w", color: "--grid", width: 1.5 },
    { key: "battery_w", color: "--battery", width: 1.5 },
    { key: "pv_w", color: "--pv", width: 2 },
    { key: "ev_w", color: "--accent", width: 2.5 },
  ]);

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
      // the bridge runs but gets no answer over Modbus: the charger's side, not the bridge's
      if (!on.bridge) down.push("bridge offline: no data from the charger");
      else if (!on.charger) down.push("charger not answering (the bridge keeps trying)");
      if (!on.controller) down.push("controller offline");
    }
    const banner = $("offline-banner");
    banner.hidden = !down.length;
    banner.textContent = down.length ? capital(down.join(" · ")) + " — controls are disabled until it is back." : "";
    // the controller's state disk: full or read-only is a state, with what it keeps in memory
    const storage = on.controller && s.control ? s.control.storage : null;
    const sb = $("storage-banner");
    sb.hidden = !storage;
    sb.textContent = storage ? capital(storage.text) + (storage.unsaved_sessions
      ? " — " + storage.unsaved_sessions + " ended session(s) kept in memory until the disk takes them." : ".") : "";
    writable = down.length === 0;
    for (const el of document.querySelectorAll("#mode-group input, #startstop")) el.disabled = !writable;

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
    renderSlider(ctl, on, smax);
    document.body.dataset.mode = on.controller && num(ctl.mode) ? String(ctl.mode) : "";
    const enabled = ctl.enabled === true;
    const ss = $("startstop");
    ss.dataset.on = String(enabled);
    ss.textContent = enabled ? "Stop charging" : "Start charging";
    ss.setAttribute("aria-pressed", String(enabled));

    renderFlow(on.controller ? s.site : null, on);
    const site = on.controller && s.site && s.site.fresh ? s.site : null;
    powerChart.setLive(num(s.ts) ? s.ts : Date.now() / 1000, site);
    renderSession(ctl.session || {}, s.currency_symbol || "€");
    if (s.prices_version !== pricesVersion) { pricesVersion = s.prices_version; loadPrices(); }
    renderPrices(on.controller ? ctl : {}, s.currency_symbol || "€", s.ts);
    if (s.sample) chart.push(s.sample);
    const g = s.sample;
    $("graph-summary").textContent = g && num(g.actual_a)
      ? "Now " + fmt(g.actual_a, 1, "A") + " of " + fmt(g.allowed_a, 1, "A") + " allowed" + (num(g.max_a) ? " (station max " + fmt(g.max_a, 0, "A") + ")" : "") + " · last 30 minutes"
      : "Last 30 minutes.";
  }
  function capital(t) { return t.charAt(0).toUpperCase() + t.slice(1); }
  // In AUTO and SCHEDULED the controller sets the current: the slider shows what it does and
  // is disabled, so a user does not think a move changes anything until Manual.
  function renderSlider(ctl, on, smax) {
    const slider = $("current"), hint = $("current-hint"), auto = MODE_WORD[ctl.mode];
    slider.disabled = !writable || !!auto;
    if (auto && on.controller) {
      const amps = num(ctl.commanded_current_a) ? ctl.commanded_current_a : 0;
      slider.value = String(Math.max(6, Math.round(amps)));
      $("current-out").textContent = fmt(amps, 1, "A");
      hint.textContent = auto + " sets the current: " + (amps > 0 ? fmt(amps, 1, "A") + " now" : "paused") + (ctl.reason ? " — " + ctl.reason : "") + ". Switch to Manual to set it yourself.";
      hint.dataset.kind = "auto";
      return;
    }
    hint.dataset.kind = "";
    hint.textContent = "6 A to " + fmt(smax, 0) + " A (station maximum). Used in Manual mode.";
    if (Date.now() > sliderBusyUntil && num(ctl.set_current_a)) {
      slider.value = String(ctl.set_current_a);
      $("current-out").textContent = fmt(ctl.set_current_a, 0, "A");
    }
  }

  const FLOW_IDLE_W = 50;  // below this a flow counts as none (meter noise)
  function kw(w) { return num(w) ? (Math.abs(w) / 1000).toFixed(2) + " kW" : "—"; }
  function renderFlow(site, on) {
    const note = $("flow-note");
    const set = (id, w, sub, dir) => {
      const n = $(id);
      n.querySelector(".n-val").textContent = kw(w);
      n.querySelector(".n-sub").textContent = sub;
      n.dataset.w = num(w) ? String(w) : "";
      n.dataset.flow = num(w) && Math.abs(w) >= FLOW_IDLE_W ? dir : "idle";
    };
    if (!site) {
      note.textContent = on.controller ? "No site data from the controller yet." : "Controller offline: no site data.";
      for (const id of ["flow-pv", "flow-grid", "flow-battery", "flow-house", "flow-ev"]) set(id, null, "", "idle");
      drawFlowLines();
      return;
    }
    note.textContent = site.fresh ? "Live, as the controller sees the Victron system." : "Victron data missing or stale: unknown values show —.";
    const g = site.grid_w, b = site.battery_w;
    set("flow-pv", site.pv_w, num(site.pv_w) && site.pv_w >= FLOW_IDLE_W ? "producing" : "", "in");
    set("flow-grid", g, !num(g) ? "" : g >= FLOW_IDLE_W ? "importing" : g <= -FLOW_IDLE_W ? "exporting" : "idle", num(g) && g < 0 ? "out" : "in");
    const soc = num(site.battery_soc) ? Math.round(site.battery_soc) + " %" : "";
    const bdir = !num(b) ? "" : b >= FLOW_IDLE_W ? "charging" : b <= -FLOW_IDLE_W ? "discharging" : "idle";
    set("flow-battery", b, [soc, bdir].filter(Boolean).join(" · "), num(b) && b > 0 ? "out" : "in");
    set("flow-house", site.house_w, "", "out");
    set("flow-ev", site.ev_w, num(site.ev_w) && site.ev_w >= FLOW_IDLE_W ? "charging" : on.charger ? "not charging" : "", "out");
    drawFlowLines();
  }
  function drawFlowLines() {
    const svg = $("flow-lines"), box = $("flow").getBoundingClientRect(), hub = $("flow-hub").getBoundingClientRect();
    if (!box.width) return;
    const NS = "http://www.w3.org/2000/svg";
    const cx = hub.left + hub.width / 2 - box.left, cy = hub.top + hub.height / 2 - box.top;
    svg.setAttribute("viewBox", "0 0 " + box.width + " " + box.height);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    for (const id of ["flow-pv", "flow-grid", "flow-battery", "flow-house", "flow-ev"]) {
      const n = $(id), r = n.getBoundingClientRect();
      const line = document.createElementNS(NS, "line");
      line.setAttribute("x1", r.left + r.width / 2 - box.left); line.setAttribute("y1", r.top + r.height / 2 - box.top);
      line.setAttribute("x2", cx); line.setAttribute("y2", cy);
      line.setAttribute("class", "flow-line " + id);
      line.dataset.flow = n.dataset.flow;
      svg.appendChild(line);
    }
  }
  new ResizeObserver(drawFlowLines).observe($("flow"));

  function money(v, sym) { return num(v) ? sym + " " + v.toFixed(2) : "—"; }
  function renderSession(se, sym) {
    $("session-tag").textContent = se.active ? "active" : se.start ? "last" : "";
    $("s-time").textContent = duration(se.time_s);
    $("s-energy").textContent = fmt(se.energy_kwh, 2, "kWh");
    $("s-cost").textContent = money(se.cost, sym);
    $("s-solar").textContent = num(se.solar_share) ? Math.round(se.solar_share * 100) + " %" : "—";
    const own = num(se.solar_kwh) || num(se.battery_kwh) ? (se.solar_kwh || 0) + (se.battery_kwh || 0) : null;
    $("s-energy-split").textContent = num(own) && num(se.grid_kwh)
      ? "solar " + own.toFixed(2) + (se.battery_kwh >= 0.005 ? " (battery " + se.battery_kwh.toFixed(2) + ")" : "") + " · grid " + se.grid_kwh.toFixed(2) + " kWh" : "";
    $("s-cost-split").textContent = num(se.solar_cost) && num(se.grid_cost)
      ? "solar " + money(se.solar_cost, sym) + " · grid " + money(se.grid_cost, sym)
      : num(se.cost) && se.active !== undefined && se.start ? "split unknown (began before the split)" : "";
  }

  async function loadPrices() {
    try {
      const r = await fetch("/api/prices", { cache: "no-store" });
      if (r.ok) { prices = await r.json(); renderPrices.key = null; if (last) render(last); }
    } catch (e) { /* the next status event retries */ }
  }
  function renderPrices(ctl, sym, now) {
    const plan = Array.isArray(ctl.plan) ? ctl.plan : [];
    const slots = Array.isArray(prices.slots) ? prices.slots.filter((p) => num(p.end) && p.end > now - 3600) : [];
    const scheduled = ctl.mode === 2;
    $("prices-card").hidden = !(scheduled || slots.length);
    $("price-now").textContent = num(ctl.price_now) ? sym + " " + ctl.price_now.toFixed(3) + "/kWh" : "—";
    const h = window.Charts.hhmm, sc = ctl.schedule;
    const dl = $("plan-deadline");
    dl.hidden = !(scheduled && sc);
    if (scheduled && sc) {
      const parts = [fmt(sc.energy_kwh, 0, "kWh") + " by " + (sc.by_hhmm || h(sc.by))];
      if (num(sc.left_kwh)) parts.push(fmt(sc.left_kwh, 1, "kWh") + " to go");
      if (num(sc.finish)) parts.push("expected finish " + h(sc.finish) + (sc.on_time === false ? " (after the deadline)" : ""));
      else if (num(sc.left_kwh) && sc.left_kwh > 0) parts.push("the slots left are not enough: charging now");
      dl.textContent = parts.join(" · ");
      dl.dataset.kind = sc.on_time === false || (!num(sc.finish) && num(sc.left_kwh) && sc.left_kwh > 0) ? "bad" : "good";
    }
    $("plan-nowindow").hidden = !(scheduled && /no time window configured/.test(ctl.reason || ""));
    $("prices-box").hidden = !slots.length;
    $("prices-legend").hidden = !slots.length;
    if (slots.length) {
      const deadline = scheduled && sc ? sc.by : null, finish = scheduled && sc ? sc.finish : null;
      const key = JSON.stringify([slots.length, slots[0].start, plan, deadline, finish, pricesVersion]) + Math.floor(now / 60);
      if (renderPrices.key !== key) { renderPrices.key = key; window.Charts.drawPrices($("prices"), slots, plan, now, sym, deadline, finish); }
    }
    const charging = plan.filter((p) => num(p.start));
    $("plan-summary").textContent = !scheduled ? "Import prices per 15 minutes (used in Scheduled mode)."
      : charging.length ? "Charging planned in " + charging.length + " quarter hour" + (charging.length > 1 ? "s" : "") + ", first " + h(charging[0].start) + "–" + h(charging[0].end) + "."
      : slots.length ? (ctl.reason ? capital(ctl.reason) + "." : "No charging slots planned.")
      : prices.source === "static" ? "No Tibber prices (static rate " + (num(prices.static_rate) ? sym + " " + prices.static_rate.toFixed(2) + "/kWh" : "—") + "): SCHEDULED charges in the time windows."
      : "No prices yet.";
  }

  async function loadPower() {
    try {
      const r = await fetch("/api/power?since=" + powerChart.lastT(), { cache: "no-store" });
      if (r.ok) powerChart.add(await r.json());
    } catch (e) { /* next round */ }
    const n = powerChart.t.length;
    $("power-graph-summary").textContent = n ? "Last 3 hours, 30-second means (" + n + " point" + (n === 1 ? "" : "s") + " since the UI started)." : "Last 3 hours, 30-second means: the first point comes 30 s after the UI starts.";
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
  let settleTimer = null, dragging = false;
  function settle() {
    sliderBusyUntil = Date.now() + USER_HOLD_MS + SLIDER_SETTLE_MS;
    clearTimeout(settleTimer);
    settleTimer = setTimeout(sendCurrent, SLIDER_SETTLE_MS);
  }
  async function sendCurrent() {
    if (dragging) { settle(); return; }  // the thumb is still held: wait for the release
    const amps = Number(slider.value), ctl = (last && last.control) || {};
    if (amps === ctl.set_current_a) return;  // back where it was: nothing to send
    const res = await send("POST", "/api/set_current", { amps: amps });
    if (res.ok) toast("Charging current " + amps + " A");
  }
  slider.addEventListener("input", () => { $("current-out").textContent = slider.value + " A"; settle(); });
  slider.addEventListener("change", settle);
  slider.addEventListener("pointerdown", () => { dragging = true; });
  for (const ev of ["pointerup", "pointercancel"]) slider.addEventListener(ev, () => { dragging = false; settle(); });
  $("startstop").addEventListener("click", async () => {
    const enable = $("startstop").dataset.on !== "true";
    const res = await send("POST", "/api/startstop", { enabled: enable });
    if (res.ok) toast(enable ? "Charging enabled" : "Charging stopped");
  });

  // ---- views ------------------------------------------------------------------------------
  function route() {
    const [view, part] = (location.hash || "#dashboard").slice(1).split("/");
    const known = ["dashboard", "history", "settings"].includes(view) ? view : "dashboard";
    for (const v of ["dashboard", "history", "settings"]) {
      $("view-" + v).hidden = v !== known;
      if (v === known) $("tab-" + v).setAttribute("aria-current", "page"); else $("tab-" + v).removeAttribute("aria-current");
    }
    if (known === "history") loadSessions();
    if (known === "settings") (settings.loaded ? Promise.resolve() : loadSettings()).then(() => openSection(part));
    if (known === "dashboard") { chart.draw(); powerChart.draw(); drawFlowLines(); }
  }
  window.addEventListener("hashchange", route);
  function openSection(name) {  // "#settings/schedule" opens and shows that section
    const d = name && $("section-" + name);
    if (!d) return;
    d.open = true;
    d.scrollIntoView({ block: "start" });
    const first = d.querySelector("input, select, button");
    if (first) first.focus({ preventScroll: true });
  }

  async function loadSessions() {
    const body = $("sessions-body");
    try {
      const r = await fetch("/api/sessions", { cache: "no-store" });
      const data = await r.json();
      const sym = (last && last.currency_symbol) || "€";
      body.textContent = "";
      if (!data.sessions || !data.sessions.length) {
        body.innerHTML = '<tr><td colspan="8" class="empty">No charging sessions recorded yet.</td></tr>';
        return;
      }
      for (const s of data.sessions) {
        const tr = document.createElement("tr");
        const start = num(s.start) ? new Date(s.start * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "—";
        const cells = [start, duration(s.duration_s), fmt(s.energy_kwh, 2, "kWh"),
          num(s.solar_kwh) ? s.solar_kwh.toFixed(2) + " kWh" + (num(s.solar_share) ? " (" + Math.round(s.solar_share * 100) + " %)" : "") + (s.battery_kwh >= 0.005 ? " + battery " + s.battery_kwh.toFixed(2) : "") : "—",
          fmt(s.grid_kwh, 2, "kWh"), money(s.solar_cost, sym), money(s.grid_cost, sym), money(s.cost, sym)];
        cells.forEach((c, i) => { const td = document.createElement("td"); td.textContent = c; if (i >= 2) td.className = "num"; tr.appendChild(td); });
        body.appendChild(tr);
      }
    } catch (e) {
      body.innerHTML = '<tr><td colspan="8" class="empty">Could not load the history.</td></tr>';
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
  loadPower();
  setInterval(loadPower, 30000);
  route();
  poll();
  connect();
})();
