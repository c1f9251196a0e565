/* Tiny charts, no dependencies: a canvas line chart of currents and an SVG price/plan chart. */
"use strict";
(function () {
  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }
  function hhmm(ts) {
    const d = new Date(ts * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }

  /** The canvas sized to its box at the device's pixel ratio and cleared: {ctx, w, h} in CSS
   *  pixels, or null while it has no size (a hidden tab). */
  function prepare(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return null;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  /** Line chart of actual / allowed current and the station max over a time window. */
  class CurrentChart {
    constructor(canvas, windowS) {
      this.canvas = canvas;
      this.windowS = windowS;
      this.t = []; this.actual = []; this.allowed = []; this.max = [];
      this.capacity = 3600;
      new ResizeObserver(() => this.draw()).observe(canvas);
      const mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) mq.addEventListener("change", () => this.draw());
    }
    load(g) {
      this.t = g.t.slice(); this.actual = g.actual_a.slice();
      this.allowed = g.allowed_a.slice(); this.max = g.max_a.slice();
      this.draw();
    }
    push(s) {
      if (!s || (this.t.length && s.t <= this.t[this.t.length - 1])) return;
      this.t.push(s.t); this.actual.push(s.actual_a); this.allowed.push(s.allowed_a); this.max.push(s.max_a);
      if (this.t.length > this.capacity) {
        for (const a of [this.t, this.actual, this.allowed, this.max]) a.shift();
      }
      this.draw();
    }
    draw() {
      const area = prepare(this.canvas);
      if (!area) return;
      const { ctx, w, h } = area;
      const now = this.t.length ? Math.max(this.t[this.t.length - 1], Date.now() / 1000 - 2) : Date.now() / 1000;
      const t0 = now - this.windowS;
      let top = 16;
      for (const arr of [this.actual, this.allowed, this.max])
        for (let i = 0; i < arr.length; i++) if (this.t[i] >= t0 && arr[i] != null) top = Math.max(top, arr[i]);
      top = Math.ceil((top + 2) / 4) * 4;
      const pad = { l: 34, r: 8, t: 8, b: 22 };
      const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
      const x = (t) => pad.l + ((t - t0) / this.windowS) * pw;
      const y = (v) => pad.t + ph - (v / top) * ph;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = css("--muted"); ctx.strokeStyle = css("--line"); ctx.lineWidth = 1;
      const step = top <= 16 ? 4 : top <= 40 ? 8 : 16;
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (let v = 0; v <= top; v += step) {
        ctx.beginPath(); ctx.moveTo(pad.l, Math.round(y(v)) + 0.5); ctx.lineTo(w - pad.r, Math.round(y(v)) + 0.5); ctx.stroke();
        ctx.fillText(v + " A", pad.l - 4, y(v));
      }
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      const tick = this.windowS > 2400 ? 900 : 300;
      for (let t = Math.ceil(t0 / tick) * tick; t <= now; t += tick) if (x(t) < w - pad.r - 16) ctx.fillText(hhmm(t), x(t), h - pad.b + 6);
      ctx.save();
      ctx.beginPath(); ctx.rect(pad.l, pad.t - 2, pw, ph + 4); ctx.clip();
      this.line(ctx, this.max, x, y, t0, css("--max"), 1.5, [3, 4]);
      this.line(ctx, this.allowed, x, y, t0, css("--allowed"), 2, [6, 4]);
      this.line(ctx, this.actual, x, y, t0, css("--accent"), 2.5, []);
      ctx.restore();
    }
    line(ctx, arr, x, y, t0, color, width, dash) {
      ctx.strokeStyle = color; ctx.lineWidth = width; ctx.setLineDash(dash); ctx.lineJoin = "round";
      ctx.beginPath();
      let pen = false, lastT = null;
      for (let i = 0; i < arr.length; i++) {
        const t = this.t[i], v = arr[i];
        if (t < t0 || v == null || (lastT !== null && t - lastT > 10)) { pen = false; }
        if (t >= t0 && v != null) {
          if (pen) ctx.lineTo(x(t), y(v)); else ctx.moveTo(x(t), y(v));
          pen = true;
        }
        lastT = t;
      }
      ctx.stroke(); ctx.setLineDash([]);
    }
  }

  /** Power flows in kW over hours: one line per series, zero line, negative values allowed. */
  class PowerChart {
    constructor(canvas, windowS, series) {
      this.canvas = canvas; this.windowS = windowS; this.series = series;
      this.t = []; this.cols = {};
      for (const s of series) this.cols[s.key] = [];
      new ResizeObserver(() => this.draw()).observe(canvas);
      const mq = window.matchMedia("(prefers-color-scheme: dark)");
      if (mq.addEventListener) mq.addEventListener("change", () => this.draw());
    }
    /** Append columns from /api/power (points newer than the last one held). */
    add(g) {
      if (!g || !Array.isArray(g.t)) return;
      const last = this.t.length ? this.t[this.t.length - 1] : -Infinity;
      for (let i = 0; i < g.t.length; i++) {
        if (g.t[i] <= last) continue;
        this.t.push(g.t[i]);
        for (const s of this.series) this.cols[s.key].push((g[s.key] || [])[i] ?? null);
      }
      const keep = 2000;
      if (this.t.length > keep) {
        const cut = this.t.length - keep;
        this.t.splice(0, cut);
        for (const s of this.series) this.cols[s.key].splice(0, cut);
      }
      this.draw();
    }
    lastT() { return this.t.length ? this.t[this.t.length - 1] : 0; }
    /** The live values (the site as the page last heard it): drawn after the last mean. */
    setLive(t, values) {
      this.live = values ? { t: t, values: values } : null;
      this.draw();
    }
    draw() {
      const area = prepare(this.canvas);
      if (!area) return;
      const { ctx, w, h } = area;
      const live = this.live && this.live.t > this.lastT() ? this.live : null;
      const ts = live ? this.t.concat([live.t]) : this.t;
      const cols = {};
      for (const s of this.series) cols[s.key] = live ? this.cols[s.key].concat([live.values[s.key] ?? null]) : this.cols[s.key];
      const now = Math.max(ts.length ? ts[ts.length - 1] : 0, Date.now() / 1000);
      const t0 = now - this.windowS;
      let hi = 1, lo = 0;  // kW
      for (const s of this.series) {
        const arr = cols[s.key];
        for (let i = 0; i < arr.length; i++) {
          if (ts[i] < t0 || arr[i] == null) continue;
          hi = Math.max(hi, arr[i] / 1000); lo = Math.min(lo, arr[i] / 1000);
        }
      }
      const step = niceStep((hi - lo) / 4);
      hi = Math.ceil(hi / step) * step; lo = Math.floor(lo / step) * step;
      const pad = { l: 56, r: 8, t: 8, b: 22 };
      const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
      const x = (t) => pad.l + ((t - t0) / this.windowS) * pw;
      const y = (v) => pad.t + ph - ((v - lo) / (hi - lo)) * ph;
      ctx.font = "11px system-ui, sans-serif";
      ctx.fillStyle = css("--muted"); ctx.lineWidth = 1;
      ctx.textAlign = "right"; ctx.textBaseline = "middle";
      for (let v = lo; v <= hi + 1e-9; v += step) {
        ctx.strokeStyle = Math.abs(v) < 1e-9 ? css("--max") : css("--line");
        ctx.beginPath(); ctx.moveTo(pad.l, Math.round(y(v)) + 0.5); ctx.lineTo(w - pad.r, Math.round(y(v)) + 0.5); ctx.stroke();
        const digits = step >= 1 ? 0 : step >= 0.5 ? 1 : 2;
        ctx.fillText((Math.abs(v) < 1e-9 ? 0 : v).toFixed(digits) + " kW", pad.l - 4, y(v));
      }
      ctx.textAlign = "center"; ctx.textBaseline = "top";
      const tick = this.windowS > 4 * 3600 ? 3600 : 1800;
      for (let t = Math.ceil(t0 / tick) * tick; t <= now; t += tick) if (x(t) < w - pad.r - 16) ctx.fillText(hhmm(t), x(t), h - pad.b + 6);
      ctx.save();
      ctx.beginPath(); ctx.rect(pad.l, pad.t - 2, pw, ph + 4); ctx.clip();
      for (const s of this.series) {
        const arr = cols[s.key];
        ctx.strokeStyle = css(s.color); ctx.lineWidth = s.width || 2; ctx.lineJoin = "round";
        ctx.beginPath();
        let pen = false, lastT = null, run = 0;
        const lonely = [];  // a point with no neighbour draws no line: a dot shows it
        for (let i = 0; i < arr.length; i++) {
          const t = ts[i], v = arr[i];
          if (v == null || t < t0 || (lastT !== null && t - lastT > 100)) {
            if (run === 1) lonely.push(i - 1);
            pen = false; run = 0;
          }
          if (t >= t0 && v != null) {
            if (pen) ctx.lineTo(x(t), y(v / 1000)); else ctx.moveTo(x(t), y(v / 1000));
            pen = true; run += 1;
          }
          lastT = t;
        }
        if (run === 1) lonely.push(arr.length - 1);
        ctx.stroke();
        ctx.fillStyle = css(s.color);
        for (const i of lonely) {
          ctx.beginPath(); ctx.arc(x(ts[i]), y(arr[i] / 1000), 3, 0, 2 * Math.PI); ctx.fill();
        }
      }
      ctx.restore();
    }
  }
  function niceStep(raw) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 0.1))));
    for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * p) return m * p;
    return 10 * p;
  }

  /** Bars of the 15-minute price slots from an hour ago on; the slots the plan charges in in the
   *  accent colour, lines at "now", the deadline and the expected finish. */
  function drawPrices(svg, allSlots, plan, nowS, symbol, deadline, finish) {
    const NS = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const w = svg.clientWidth || 600, h = svg.clientHeight || 190;
    svg.setAttribute("viewBox", "0 0 " + w + " " + h);
    const from = nowS - 3600;
    const slots = allSlots.filter((s) => typeof s.start === "number" && typeof s.end === "number" && s.end > from);
    if (!slots.length) return;
    const charging = (s) => plan.some((p) => p.start < s.end && p.end > s.start);
    const start = Math.min.apply(null, slots.map((s) => s.start));
    const end = Math.max.apply(null, slots.map((s) => s.end));
    const prices = slots.map((s) => (typeof s.price === "number" ? s.price : 0));
    const top = Math.max(0.05, Math.max.apply(null, prices)) * 1.15;
    const low = Math.min(0, Math.min.apply(null, prices));
    const pad = { l: 44, r: 6, t: 8, b: 22 };
    const pw = w - pad.l - pad.r, ph = h - pad.t - pad.b;
    const x = (t) => pad.l + ((t - start) / (end - start)) * pw;
    const y = (v) => pad.t + ph - ((v - low) / (top - low)) * ph;
    const el = (name, attrs, text) => {
      const e = document.createElementNS(NS, name);
      for (const k in attrs) e.setAttribute(k, attrs[k]);
      if (text !== undefined) e.textContent = text;
      svg.appendChild(e);
      return e;
    };
    const ticks = 4;
    for (let i = 0; i <= ticks; i++) {
      const v = low + ((top - low) * i) / ticks;
      el("line", { x1: pad.l, x2: w - pad.r, y1: y(v), y2: y(v), stroke: css("--line") });
      el("text", { x: pad.l - 4, y: y(v) + 4, "text-anchor": "end" }, symbol + v.toFixed(2));
    }
    for (const s of slots) {
      const p = typeof s.price === "number" ? s.price : 0;
      const bx = x(s.start) + 0.5, bw = Math.max(1, x(s.end) - x(s.start) - 1);
      const r = el("rect", { x: bx, y: Math.min(y(p), y(0)), width: bw, height: Math.abs(y(0) - y(p)) || 1,
        fill: charging(s) ? css("--plan") : css("--price"), rx: 1, class: charging(s) ? "slot slot-charge" : "slot" });
      const title = document.createElementNS(NS, "title");
      title.textContent = hhmm(s.start) + "–" + hhmm(s.end) + ": " + (typeof s.price === "number" ? symbol + s.price.toFixed(3) : "no price") + (charging(s) ? " · charging" : "");
      r.appendChild(title);
    }
    const hourS = 3600, labelEvery = (end - start) > 30 * hourS ? 6 * hourS : 3 * hourS;
    for (let t = Math.ceil(start / hourS) * hourS; t < end; t += hourS) {
      const d = new Date(t * 1000);
      if ((d.getHours() * hourS) % labelEvery !== 0) continue;
      const label = d.getHours() === 0 ? d.toLocaleDateString(undefined, { weekday: "short" }) : hhmm(t);
      el("text", { x: x(t), y: h - 6, "text-anchor": "middle" }, label);
      if (d.getHours() === 0) el("line", { x1: x(t), x2: x(t), y1: pad.t, y2: pad.t + ph, stroke: css("--max"), "stroke-dasharray": "2 3" });
    }
    const mark = (t, color, label, dash, id, row) => {
      if (!(t >= start && t <= end)) return;
      el("line", { x1: x(t), x2: x(t), y1: pad.t, y2: pad.t + ph, stroke: color, "stroke-width": 2, "stroke-dasharray": dash, id: id });
      const right = x(t) + 4 + label.length * 6.5 > w - pad.r;  // keep the label inside
      el("text", { x: x(t) + (right ? -4 : 4), y: pad.t + 10 + 13 * (row || 0), "text-anchor": right ? "end" : "start", class: "mark-label" }, label);
    };
    mark(nowS, css("--fg"), "now", "", "prices-now");
    if (typeof finish === "number") mark(finish, css("--good"), "finish " + hhmm(finish), "5 3", "prices-finish");
    if (typeof deadline === "number") mark(deadline, css("--bad"), "deadline " + hhmm(deadline), "2 2", "prices-deadline", 1);
  }

  window.Charts = { CurrentChart: CurrentChart, PowerChart: PowerChart, drawPrices: drawPrices, hhmm: hhmm };
})();
