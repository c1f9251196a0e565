/* Config editor generated from the JSON Schema (GET /api/config/schema).
   Each top-level object is a section; top-level scalars form "General". Secrets are never
   received: the server sends a mask, and we send the mask back unless the user typed a value.
   Saving sends only what the user changed (PATCH /api/config): a field left alone is never
   sent, so an empty text box does not turn a null into "" and defaults never land in the file. */
"use strict";
(function () {
  const MASK = "********";
  const fields = new Map(); // dotted path -> {input, kind, node, box}

  function humanize(key) {
    const s = key.replace(/_/g, " ").replace(/\b(s|ms|a|w|kwh|v|mb)$/i, "").trim();
    return s.charAt(0).toUpperCase() + s.slice(1);
  }
  function kindOf(node) {
    if (node.oneOf && node.oneOf.some((o) => o.type === "boolean")) return "bool";
    if (node.enum) return "enum";
    const t = Array.isArray(node.type) ? node.type.find((x) => x !== "null") : node.type;
    if (t === "boolean") return "bool";
    if (t === "integer" || t === "number") return t;
    if (t === "array") return node.items && node.items.type === "object" ? "objects" : "list";
    if (t === "object") return "object";
    return "string";
  }
  function get(obj, path) {
    return path.reduce((o, k) => (o != null && typeof o === "object" ? o[k] : undefined), obj);
  }
  function mk(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) {
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function idOf(path) { return "cfg-" + path.join("-"); }

  function field(path, node, value) {
    const key = path[path.length - 1];
    const id = idOf(path), kind = kindOf(node);
    const box = mk("div", { class: "field" });
    const helpId = id + "-help", errId = id + "-err";
    const label = mk("label", { for: id }, node.title || humanize(key));
    label.appendChild(mk("span", { class: "key" }, key));
    box.appendChild(label);
    const row = mk("div", { class: "control" });
    let input;
    if (kind === "bool") {
      const sw = mk("span", { class: "switch" });
      input = mk("input", { type: "checkbox", role: "switch", id: id });
      input.checked = value === true || value === 1;
      sw.appendChild(input); sw.appendChild(mk("span", { class: "track", "aria-hidden": "true" }));
      row.appendChild(sw);
    } else if (kind === "enum") {
      input = mk("select", { id: id });
      for (const opt of node.enum) {
        const o = mk("option", { value: JSON.stringify(opt) }, String(opt));
        if (opt === value) o.selected = true;
        input.appendChild(o);
      }
      row.appendChild(input);
    } else if (node["x-secret"]) {
      input = mk("input", { type: "password", id: id, autocomplete: "new-password", spellcheck: "false" });
      input.dataset.stored = value === MASK ? "set" : "";
      input.placeholder = value === MASK ? "•••••••• set — type to replace" : "not set";
      row.appendChild(input);
      if (value === MASK) {
        const clear = mk("button", { type: "button", class: "linkish" }, "Clear");
        clear.addEventListener("click", () => {
          input.dataset.stored = ""; input.value = ""; input.placeholder = "will be cleared on save";
        });
        row.appendChild(clear);
      }
    } else {
      const numeric = kind === "integer" || kind === "number";
      input = mk("input", { type: "text", id: id, spellcheck: "false",
        inputmode: numeric ? (kind === "integer" ? "numeric" : "decimal") : "text" });
      input.value = value == null ? "" : Array.isArray(value) ? value.join(", ") : String(value);
      if (kind === "list") input.placeholder = "comma separated";
      row.appendChild(input);
    }
    if (node["x-unit"]) row.appendChild(mk("span", { class: "unit" }, node["x-unit"]));
    box.appendChild(row);
    const describedBy = [];
    if (node.description) { box.appendChild(mk("p", { class: "help", id: helpId }, node.description)); describedBy.push(helpId); }
    box.appendChild(mk("p", { class: "field-error", id: errId, role: "alert" }));
    describedBy.push(errId);
    input.setAttribute("aria-describedby", describedBy.join(" "));
    fields.set(path.join("."), { input: input, kind: kind, node: node, box: box });
    return box;
  }

  function readField(f) {
    const input = f.input;
    if (f.kind === "bool") {
      const numeric = f.node.oneOf && typeof f.original === "number";
      return { set: true, value: numeric ? (input.checked ? 1 : 0) : input.checked };
    }
    if (f.kind === "enum") return { set: true, value: JSON.parse(input.value) };
    if (f.node["x-secret"]) {
      if (input.value) return { set: true, value: input.value };
      return { set: true, value: input.dataset.stored ? MASK : "" };
    }
    const raw = input.value.trim();
    if (f.original == null && raw === "") return { set: false }; // null or absent stays so
    if (f.kind === "integer" || f.kind === "number") {
      if (raw === "") return { set: false };
      const n = Number(raw.replace(",", "."));
      // Not a number: send the text so the server names the problem next to the field.
      return { set: true, value: raw !== "" && Number.isFinite(n) ? n : raw };
    }
    if (f.kind === "list") {
      if (raw === "") return { set: false };
      return { set: true, value: raw.split(/[,\s]+/).filter(Boolean).map((x) => (/^-?\d+$/.test(x) ? Number(x) : x)) };
    }
    return { set: true, value: input.value };
  }

  function arrayField(path, node, items) {
    const wrap = mk("div", { class: "array-field", id: idOf(path) });
    const head = mk("div", { class: "item-head" });
    head.appendChild(mk("span", null, node.title || humanize(path[path.length - 1])));
    const add = mk("button", { type: "button" }, "Add");
    head.appendChild(add);
    wrap.appendChild(head);
    wrap.appendChild(mk("p", { class: "field-error", id: idOf(path) + "-err", role: "alert" }));
    const list = mk("div", { class: "array-list" });
    wrap.appendChild(list);
    const itemNode = node.items;
    const render = (values) => {
      for (const k of Array.from(fields.keys())) if (k.startsWith(path.join(".") + ".")) fields.delete(k);
      list.textContent = "";
      if (!values.length) list.appendChild(mk("p", { class: "hint" }, "None."));
      values.forEach((v, i) => {
        const item = mk("fieldset", { class: "array-item" });
        const ih = mk("div", { class: "item-head" });
        ih.appendChild(mk("legend", null, (itemNode.title || "Item") + " " + (i + 1)));
        const rm = mk("button", { type: "button", class: "linkish", "aria-label": "Remove item " + (i + 1) }, "Remove");
        rm.addEventListener("click", () => { const cur = collectArray(path, itemNode, values.length); cur.splice(i, 1); render(cur); });
        ih.appendChild(rm);
        item.appendChild(ih);
        for (const [k, sub] of Object.entries(itemNode.properties || {})) {
          if (sub.type === "object") continue;
          const f = field(path.concat([String(i), k]), sub, v ? v[k] : undefined);
          fields.get(path.concat([String(i), k]).join(".")).original = v ? v[k] : undefined;
          fields.get(path.concat([String(i), k]).join(".")).optional = true;
          item.appendChild(f);
        }
        list.appendChild(item);
      });
      wrap.dataset.count = String(values.length);
    };
    add.addEventListener("click", () => {
      const cur = collectArray(path, itemNode, Number(wrap.dataset.count || 0));
      cur.push({ enabled: true, start: "00:00", end: "06:00" });
      render(cur);
    });
    render(Array.isArray(items) ? items : []);
    return wrap;
  }

  function collectArray(path, itemNode, count) {
    const out = [];
    for (let i = 0; i < count; i++) {
      const item = {};
      for (const k of Object.keys(itemNode.properties || {})) {
        const f = fields.get(path.concat([String(i), k]).join("."));
        if (!f) continue;
        if (f.kind === "bool" && f.original === undefined && !f.input.checked && k !== "enabled") continue;
        const r = readField(f);
        if (r.set && !(f.kind === "string" && r.value === "" && f.original === undefined)) item[k] = r.value;
      }
      out.push(item);
    }
    return out;
  }

  function build(container, schema, config) {
    fields.clear();
    container.textContent = "";
    const props = schema.properties || {};
    const general = [];
    const sections = [];
    for (const [key, node] of Object.entries(props)) {
      if (node["x-deprecated"]) continue; // kept as stored, not edited
      if (node.type === "object" && node.properties) sections.push([key, node]);
      else general.push([key, node]);
    }
    const mkSection = (id, title, desc, open) => {
      const d = mk("details", { class: "section", id: "section-" + id });
      if (open) d.open = true;
      const s = mk("summary");
      s.appendChild(mk("span", null, title));
      s.appendChild(mk("span", { class: "count" }));
      d.appendChild(s);
      const body = mk("div", { class: "section-body" });
      if (desc) body.appendChild(mk("p", { class: "section-desc" }, desc));
      d.appendChild(body);
      container.appendChild(d);
      return body;
    };
    for (const [key, node] of sections) {
      const body = mkSection(key, node.title || humanize(key), node.description, key === "modbus");
      for (const [sub, subNode] of Object.entries(node.properties)) {
        const path = [key, sub], value = get(config, path);
        if (subNode["x-deprecated"]) continue; // an old driver key: kept as stored, not edited
        if (kindOf(subNode) === "objects") body.appendChild(arrayField(path, subNode, value));
        else {
          body.appendChild(field(path, subNode, value));
          fields.get(path.join(".")).original = value;
        }
      }
    }
    if (general.length) {
      const body = mkSection("general", "General", "Charger id, polling, time zone and where state is kept.", false);
      for (const [key, node] of general) {
        body.appendChild(field([key], node, config[key]));
        fields.get(key).original = config[key];
      }
      container.insertBefore(container.lastChild, container.firstChild.nextSibling);
    }
  }

  function collect(config, schema) {
    const out = JSON.parse(JSON.stringify(config)); // keeps deprecated/unknown sections as stored
    for (const [path, f] of fields) {
      const parts = path.split(".");
      if (/^\d+$/.test(parts[1] || "") || /^\d+$/.test(parts[2] || "")) continue; // array items below
      const r = readField(f);
      let node = out;
      for (const k of parts.slice(0, -1)) { if (typeof node[k] !== "object" || node[k] === null) node[k] = {}; node = node[k]; }
      if (r.set) node[parts[parts.length - 1]] = r.value; else delete node[parts[parts.length - 1]];
    }
    for (const [key, node] of Object.entries(schema.properties || {})) {
      if (node.type !== "object" || !node.properties) continue;
      for (const [sub, subNode] of Object.entries(node.properties)) {
        if (kindOf(subNode) !== "objects") continue;
        const wrap = document.getElementById(idOf([key, sub]));
        if (wrap) out[key][sub] = collectArray([key, sub], subNode.items, Number(wrap.dataset.count || 0));
      }
    }
    return out;
  }

  function same(a, b) {
    if (a === b) return true;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && same(a[k], b[k]));
  }
  function diff(orig, cur) {
    const out = {};
    for (const k of Object.keys(cur)) {
      const a = orig ? orig[k] : undefined, b = cur[k];
      const objects = [a, b].every((v) => v !== null && typeof v === "object" && !Array.isArray(v));
      if (objects) {
        const d = diff(a, b);
        if (Object.keys(d).length) out[k] = d;
      } else if (!same(a, b) && !(a === undefined && Array.isArray(b) && !b.length)) out[k] = b;
    }
    return out;
  }
  /** Only the fields the user changed, nested as the config is: the body of a PATCH. */
  function changes(config, schema) { return diff(config, collect(config, schema)); }

  function clearErrors() {
    for (const f of fields.values()) { f.box.classList.remove("invalid"); f.box.querySelector(".field-error").textContent = ""; }
    document.querySelectorAll(".array-field > .field-error").forEach((e) => (e.textContent = ""));
    document.querySelectorAll("details.section .count").forEach((e) => { e.textContent = ""; e.dataset.n = "0"; });
  }

  /** Put each {path, message} next to its field (or the nearest enclosing one); return the rest. */
  function showErrors(errors) {
    const rest = [];
    let first = null;
    for (const err of errors) {
      let parts = (err.path || "").split(".").filter(Boolean), target = null;
      while (parts.length && !target) {
        const k = parts.join(".");
        if (fields.has(k)) target = fields.get(k).box;
        else if (document.getElementById(idOf(parts) + "-err")) target = document.getElementById(idOf(parts)).closest(".array-field");
        else parts = parts.slice(0, -1);
      }
      if (!target) { rest.push(err); continue; }
      target.classList.add("invalid");
      const slot = target.querySelector(".field-error");
      slot.textContent = slot.textContent ? slot.textContent + " " + err.message : err.message;
      const section = target.closest("details.section");
      if (section) {
        section.open = true;
        const c = section.querySelector(".count");
        const n = Number(c.dataset.n || 0) + 1;
        c.dataset.n = String(n);
        c.textContent = n + (n === 1 ? " problem" : " problems");
      }
      if (!first) first = target;
    }
    if (first) {
      first.scrollIntoView({ block: "center" });
      const inp = first.querySelector("input, select");
      if (inp) inp.focus({ preventScroll: true });
    }
    return rest;
  }

  window.ConfigEditor = { build: build, collect: collect, changes: changes, showErrors: showErrors, clearErrors: clearErrors, MASK: MASK };
})();
