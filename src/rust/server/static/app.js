// The cometr dashboard. It reads the server's REST v2 endpoints (those Comet's SDKs
// read) and builds the page from their answers. Names, tags, values and file contents
// are user data: they reach the page only as text nodes (textContent) or as attribute
// values the browser does not run, never as markup. Charts are SVG drawn here.
"use strict";
(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const API = "/api/rest/v2/";
  const KEY_NAME = "cometr-dashboard-key";
  // A server started without a key accepts any key but requires one to be sent.
  const ANY_KEY = "dashboard";
  const COLORS = ["#2458c6", "#d9480f", "#2b8a3e", "#ae3ec9", "#e8590c", "#0b7285",
    "#c2255c", "#5c940d", "#364fc7", "#862e9c"];
  const MAX_CHART_POINTS = 1500;
  const MAX_TABLE_ROWS = 200;
  const SHOWN_TABLE_ROWS = 12;
  const MAX_TABLE_BYTES = 2 * 1024 * 1024;
  const MAX_IMAGES = 60;

  // ---- The API key ------------------------------------------------------------------
  // Given once: typed in the form below, or in the URL's fragment (#key=...), which the
  // browser never sends to the server; kept in this browser's storage for this origin.
  let memoryKey = null;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function takeKeyFromFragment() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const key = fragment.get("key") || fragment.get("apiKey");
    if (!key) return;
    saveKey(key);
    fragment.delete("key");
    fragment.delete("apiKey");
    const rest = fragment.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }

  function saveKey(key) {
    memoryKey = key;
    const s = storage();
    if (s) { try { s.setItem(KEY_NAME, key); } catch (e) { /* private mode */ } }
  }

  function currentKey() {
    if (memoryKey) return memoryKey;
    const s = storage();
    const stored = s ? s.getItem(KEY_NAME) : null;
    return stored || ANY_KEY;
  }

  class KeyNeeded extends Error {}

  // ---- Requests ---------------------------------------------------------------------
  function url(path, params) {
    const q = params ? "?" + new URLSearchParams(params).toString() : "";
    return API + path + q;
  }

  async function request(path, params) {
    const r = await fetch(url(path, params), {
      headers: { Authorization: currentKey() },
      credentials: "omit",
      cache: "no-store",
    });
    if (r.status === 401) throw new KeyNeeded("the server needs its API key");
    if (!r.ok) {
      let msg = "HTTP " + r.status;
      try { const body = await r.json(); if (body && body.msg) msg = body.msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r;
  }

  async function api(path, params) { return (await request(path, params)).json(); }

  async function assetBlob(key, assetId) {
    return (await request("experiment/asset/get-asset", { experimentKey: key, assetId: assetId })).blob();
  }

  // Run `fn` over `items` with at most `limit` requests in flight.
  async function mapLimit(items, limit, fn) {
    const out = new Array(items.length);
    let next = 0;
    async function worker() {
      while (next < items.length) {
        const i = next++;
        try { out[i] = await fn(items[i], i); } catch (e) {
          if (e instanceof KeyNeeded) throw e;
          out[i] = { error: e };
        }
      }
    }
    const workers = [];
    for (let i = 0; i < Math.min(limit, items.length); i++) workers.push(worker());
    await Promise.all(workers);
    return out;
  }

  // ---- DOM helpers: text only ------------------------------------------------------
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    setProps(e, props);
    add(e, children);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, String(v));
    }
    add(e, children);
    return e;
  }

  function setProps(e, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = String(v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, String(v));
    }
  }

  function add(parent, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return parent;
  }

  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

  // A link to one of the dashboard's own pages; every part is encoded.
  function pageHref(parts, query) {
    const path = "/" + parts.map(encodeURIComponent).join("/");
    return query ? path + "?" + new URLSearchParams(query).toString() : path;
  }

  function link(text, parts, query) { return el("a", { href: pageHref(parts, query), text: text }); }

  function chip(text) { return el("span", { class: "chip", title: text, text: text }); }

  function section(id, title) {
    const s = el("section", { id: id });
    add(s, [el("h2", { text: title })]);
    return s;
  }

  function kvTable(rows) {
    const t = el("table", { class: "kv" });
    for (const [k, v] of rows) {
      add(t, [el("tr", null, el("th", { text: k }), el("td", { class: "mono" }, v))]);
    }
    return el("div", { class: "table-wrap" }, t);
  }

  // ---- Formatting ---------------------------------------------------------------------
  function num(v) {
    if (v === null || v === undefined || v === "") return NaN;
    const x = typeof v === "number" ? v : Number(String(v).trim());
    return Number.isFinite(x) ? x : NaN;
  }

  function fmtNum(x) {
    if (!Number.isFinite(x)) return String(x);
    if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x);
    const a = Math.abs(x);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return x.toExponential(3);
    return String(Number(x.toPrecision(5)));
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    const x = num(v);
    return Number.isFinite(x) && typeof v !== "boolean" ? fmtNum(x) : String(v);
  }

  function fmtDuration(ms) {
    if (!Number.isFinite(ms) || ms <= 0) return "";
    const s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + r + "s";
  }

  function fmtTime(ms) {
    if (!Number.isFinite(ms) || ms <= 0) return "";
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  function fmtBytes(n) {
    if (!Number.isFinite(n)) return "";
    const units = ["B", "kB", "MB", "GB", "TB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : String(n)) + " " + units[i];
  }

  function showJson(v) {
    if (v === null || v === undefined) return "";
    return typeof v === "string" ? v : JSON.stringify(v, null, 2);
  }

  // ---- Page frame ----------------------------------------------------------------------
  const main = () => document.getElementById("main");

  function crumbs(parts) {
    const nav = clear(document.getElementById("crumbs"));
    parts.forEach((p, i) => {
      add(nav, [el("span", { class: "sep", text: "/" }), p]);
      if (i === parts.length - 1) document.title = (p.textContent || "") + " · cometr";
    });
  }

  // Ready: say so (tests wait for it), and scroll to the section the address names, now
  // that it exists.
  function done() {
    document.body.setAttribute("data-state", "ready");
    const target = location.hash.length > 1 ? document.getElementById(location.hash.slice(1)) : null;
    if (target) target.scrollIntoView();
  }

  function fail(e) {
    const m = clear(main());
    if (e instanceof KeyNeeded) {
      keyForm(m);
    } else {
      add(m, [el("p", { class: "error", text: "Could not load this page: " + (e && e.message ? e.message : e) })]);
    }
    document.body.setAttribute("data-state", e instanceof KeyNeeded ? "key-needed" : "error");
  }

  function keyForm(m) {
    const input = el("input", { type: "password", autocomplete: "off", placeholder: "API key", "aria-label": "API key" });
    const go = () => { if (input.value) { saveKey(input.value); location.reload(); } };
    input.addEventListener("keydown", (ev) => { if (ev.key === "Enter") go(); });
    add(m, [el("div", { class: "keyform" },
      el("h1", { text: "This server needs its API key" }),
      el("p", { text: "Type the key the server was started with. It stays in this browser and is sent only to this server, in the Authorization header. You can also open the dashboard with the key after # in its address: /#key=YOUR-KEY." }),
      el("div", { class: "toolbar" }, input, el("button", { onclick: go, text: "Use key" })))]);
    input.focus();
  }

  // ---- Charts --------------------------------------------------------------------------
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) { const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1; lo -= d; hi += d; }
    const raw = (hi - lo) / count;
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / mag;
    const step = (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1) * mag;
    // The axis runs from tick to tick, so no line starts or ends on the frame.
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
    const ticks = [];
    for (let v = lo; v <= hi + step * 1e-9; v += step) {
      ticks.push(Number(v.toPrecision(12)));
    }
    return { lo: lo, hi: hi, ticks: ticks };
  }

  // Keep the shape of a long series: the first, lowest, highest and last point of
  // each of `MAX_CHART_POINTS / 4` buckets.
  function thin(points) {
    if (points.length <= MAX_CHART_POINTS) return points;
    const buckets = Math.floor(MAX_CHART_POINTS / 4);
    const size = points.length / buckets;
    const out = [];
    for (let b = 0; b < buckets; b++) {
      const part = points.slice(Math.floor(b * size), Math.floor((b + 1) * size));
      if (!part.length) continue;
      let lo = part[0], hi = part[0];
      for (const p of part) { if (p[1] < lo[1]) lo = p; if (p[1] > hi[1]) hi = p; }
      const keep = [part[0], lo, hi, part[part.length - 1]].sort((a, c) => a[0] - c[0]);
      for (const p of keep) if (out[out.length - 1] !== p) out.push(p);
    }
    return out;
  }

  // A line chart: `series` is [{label, color, points: [[x, y], ...]}].
  function lineChart(title, series, xLabel) {
    const W = 560, H = 300, L = 58, R = 14, T = 10, B = 40;
    const all = series.flatMap((s) => s.points);
    const box = el("div", { class: "chart-box" }, el("h3", { text: title }));
    if (!all.length) { add(box, [el("p", { class: "muted", text: "No numeric values." })]); return box; }
    // Extremes by a loop: spreading a long series into Math.min overflows the stack.
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const p of all) {
      if (p[0] < x0) x0 = p[0]; if (p[0] > x1) x1 = p[0];
      if (p[1] < y0) y0 = p[1]; if (p[1] > y1) y1 = p[1];
    }
    const xt = niceTicks(x0, x1, 6);
    const yt = niceTicks(y0, y1, 5);
    const sx = (x) => L + ((x - xt.lo) / (xt.hi - xt.lo)) * (W - L - R);
    const sy = (y) => H - B - ((y - yt.lo) / (yt.hi - yt.lo)) * (H - T - B);
    const g = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, role: "img",
      "data-chart": title, "data-series": series.length });
    add(g, [svg("title", null, title)]);
    for (const t of yt.ticks) {
      add(g, [svg("line", { class: "grid", x1: L, x2: W - R, y1: sy(t), y2: sy(t) }),
        svg("text", { x: L - 6, y: sy(t) + 4, "text-anchor": "end" }, fmtNum(t))]);
    }
    for (const t of xt.ticks) {
      add(g, [svg("line", { class: "grid", x1: sx(t), x2: sx(t), y1: T, y2: H - B }),
        svg("text", { x: sx(t), y: H - B + 16, "text-anchor": "middle" }, fmtNum(t))]);
    }
    add(g, [svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
      svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }),
      svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle" }, xLabel)]);
    for (const s of series) {
      const pts = thin(s.points);
      const line = svg("polyline", {
        points: pts.map((p) => sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join(" "),
        stroke: s.color, "data-label": s.label, "data-points": s.points.length,
      });
      add(line, [svg("title", null, s.label)]);
      add(g, [line]);
      if (pts.length <= 40) {
        for (const p of pts) {
          const dot = svg("circle", { cx: sx(p[0]).toFixed(1), cy: sy(p[1]).toFixed(1), r: 2.6, fill: s.color });
          add(dot, [svg("title", null, s.label + ": " + fmtNum(p[0]) + ", " + fmtNum(p[1]))]);
          add(g, [dot]);
        }
      }
    }
    add(box, [g]);
    if (series.length > 1 || series[0].label !== title) {
      add(box, [el("div", { class: "legend" }, series.map((s) =>
        el("span", null, el("span", { class: "swatch" }), s.label)))]);
      // Swatch colours are set through the CSSOM (allowed by the policy), not markup.
      box.querySelectorAll(".legend .swatch").forEach((sw, i) => { sw.style.background = series[i].color; });
    }
    return box;
  }

  // Metric points of one experiment, grouped by name: {name: [[step, value], ...]}.
  function metricSeries(metrics) {
    const by = new Map();
    metrics.forEach((m, i) => {
      const y = num(m.metricValue);
      if (!Number.isFinite(y)) return;
      const x = Number.isFinite(num(m.step)) ? num(m.step) : i;
      if (!by.has(m.metricName)) by.set(m.metricName, []);
      by.get(m.metricName).push([x, y]);
    });
    for (const pts of by.values()) pts.sort((a, b) => a[0] - b[0]);
    return by;
  }

  // One chart per metric, each experiment of `runs` ([{key, label}]) a line of its own,
  // put into `container` once all are drawn (so a redraw never shows an empty area).
  async function metricCharts(container, runs) {
    const loaded = await mapLimit(runs, 4, async (r) =>
      metricSeries((await api("experiment/metrics/get-all", { experimentKey: r.key })).metrics || []));
    const names = [];
    for (const m of loaded) {
      if (!(m instanceof Map)) continue;
      for (const n of m.keys()) if (!names.includes(n)) names.push(n);
    }
    const chartsOf = (list) => {
      const grid = el("div", { class: "charts" });
      for (const name of list) {
        const series = [];
        runs.forEach((r, i) => {
          const m = loaded[i];
          if (m instanceof Map && m.has(name)) {
            series.push({ label: runs.length > 1 ? r.label : name, color: COLORS[i % COLORS.length], points: m.get(name) });
          }
        });
        add(grid, [lineChart(name, series, "step")]);
      }
      return grid;
    };
    // The machine's readings (CPU, memory, GPU) that SDKs log as sys.* come after the
    // run's own metrics, as Comet shows them apart.
    const own = names.filter((n) => !isSystemMetric(n)), system = names.filter(isSystemMetric);
    const parts = [];
    if (own.length) parts.push(chartsOf(own));
    if (system.length) parts.push(el("h3", { text: "System metrics" }), chartsOf(system));
    if (!parts.length) parts.push(el("p", { class: "muted", text: "No metrics logged." }));
    container.replaceChildren(...parts);
  }

  function isSystemMetric(name) { return /^sys\./.test(name); }

  // ---- The projects page -------------------------------------------------------------
  async function homePage() {
    crumbs([el("span", { text: "projects" })]);
    const m = main();
    const ws = (await api("workspaces")).workspaceNames || [];
    const body = el("div");
    add(body, [el("h1", { text: "Projects" })]);
    if (!ws.length) add(body, [el("p", { class: "muted", text: "Nothing logged yet: create an experiment to see it here." })]);
    for (const w of ws) {
      const projects = (await api("projects", { workspaceName: w })).projects || [];
      const t = el("table", null, el("tr", null, ["Project", "Experiments", "Last updated", "Description"].map((h) => el("th", { text: h }))));
      projects.sort((a, b) => (b.lastUpdated || 0) - (a.lastUpdated || 0));
      for (const p of projects) {
        add(t, [el("tr", null,
          el("td", null, link(p.projectName, [w, p.projectName])),
          el("td", { class: "num", text: p.numberOfExperiments }),
          el("td", { text: fmtTime(p.lastUpdated) }),
          el("td", { text: p.projectDescription || "" }))]);
      }
      add(body, [el("h2", { text: "Workspace " + w }), el("div", { class: "table-wrap" }, t)]);
      const arts = (await api("artifacts/get-all", { workspace: w })).artifacts || [];
      if (arts.length) {
        const full = await mapLimit(arts, 4, (a) => api("artifacts/get", { artifactId: a.artifactId }));
        const at = el("table", null, el("tr", null, ["Artifact", "Type", "Tags", "Version", "Aliases", "Version tags", "Size", "State", "Created", "By experiment"].map((h) => el("th", { text: h }))));
        arts.forEach((a, i) => {
          const versions = full[i] && full[i].versions ? full[i].versions.slice().reverse() : [];
          if (!versions.length) versions.push({});
          versions.forEach((v, j) => {
            const first = j === 0;
            add(at, [el("tr", null,
              el("td", { text: first ? a.artifactName : "" }), el("td", { text: first ? a.artifactType || "" : "" }),
              el("td", null, first ? (a.tags || []).map(chip) : null),
              el("td", { class: "mono", text: v.version || "" }), el("td", null, (v.alias || []).map(chip)),
              el("td", null, (v.tags || []).map(chip)), el("td", { class: "num", text: fmtBytes(v.sizeInBytes) }),
              el("td", { text: v.state || "" }), el("td", { text: fmtTime(v.createdAt) }),
              el("td", { class: "mono", text: v.experimentKey ? v.experimentKey.slice(0, 9) : "" }))]);
          });
        });
        add(body, [el("h3", { text: "Artifacts and their versions" }), el("div", { class: "table-wrap" }, at)]);
      }
    }
    add(clear(m), [body]);
  }

  // ---- The experiments of a project ----------------------------------------------------
  function experimentLabel(e) { return e.experimentName || e.experimentKey.slice(0, 9); }

  // What comet_ml's get_state() tells from the metadata: running, crashed or finished.
  function runState(meta, archived) {
    if (meta.running) return "running";
    if (meta.hasCrashed) return "crashed";
    return archived ? "archived" : "finished";
  }

  async function projectPage(ws, project) {
    crumbs([link(ws, []), el("span", { text: project })]);
    const params = new URLSearchParams(location.search);
    const showArchived = params.get("archived") === "true";
    const list = (await api("experiments", { workspaceName: ws, projectName: project, archived: String(showArchived) })).experiments || [];
    const rows = await mapLimit(list, 6, async (e) => {
      const k = e.experimentKey;
      const [meta, metrics, pars, tags] = await Promise.all([
        api("experiment/metadata", { experimentKey: k }),
        api("experiment/metrics/summary", { experimentKey: k }),
        api("experiment/parameters", { experimentKey: k }),
        api("experiment/tags", { experimentKey: k })]);
      return {
        e: e,
        state: runState(meta, e.archived),
        metrics: new Map((metrics.values || []).map((v) => [v.name, v.valueCurrent])),
        params: new Map((pars.values || []).map((v) => [v.name, v.valueCurrent])),
        tags: tags.tags || [],
      };
    });
    const ok = rows.filter((r) => r && r.e);
    const metricNames = [], paramNames = [];
    for (const r of ok) {
      for (const n of r.metrics.keys()) if (!metricNames.includes(n) && !isSystemMetric(n)) metricNames.push(n);
      for (const n of r.params.keys()) if (!paramNames.includes(n)) paramNames.push(n);
    }
    const columns = [
      { title: "Name", value: (r) => experimentLabel(r.e), cell: (r) => link(experimentLabel(r.e), [ws, project, r.e.experimentKey]), nowrap: true },
      { title: "Tags", value: (r) => r.tags.join(" "), cell: (r) => r.tags.map(chip) },
      { title: "State", value: (r) => r.state, cell: (r) => el("span", { class: "state-" + r.state, text: r.state }) },
      { title: "Duration", value: (r) => r.e.durationMillis || 0, cell: (r) => fmtDuration(r.e.durationMillis), num: true },
      { title: "Started", value: (r) => r.e.startTimeMillis || 0, cell: (r) => fmtTime(r.e.startTimeMillis), nowrap: true },
    ];
    for (const n of metricNames) columns.push({ title: n, group: "metric", value: (r) => r.metrics.get(n), cell: (r) => fmtValue(r.metrics.get(n)), num: true });
    for (const n of paramNames) columns.push({ title: n, group: "parameter", value: (r) => r.params.get(n), cell: (r) => fmtValue(r.params.get(n)), num: true });

    const selected = new Set((params.get("compare") || "").split(",").filter(Boolean));
    let sortBy = 4, sortDir = -1, filter = params.get("filter") || "";
    const m = clear(main());
    const filterBox = el("input", { type: "search", placeholder: "Filter: name, tag, state, value…", "aria-label": "filter", value: filter });
    const compareBtn = el("button", { text: "Compare selected" });
    const archivedLink = link(showArchived ? "Show active experiments" : "Show archived experiments", [ws, project], showArchived ? null : { archived: "true" });
    const table = el("table", { id: "experiments" });
    const compareArea = el("div", { id: "compare" });
    add(m, [el("h1", { text: project }),
      el("div", { class: "meta" }, el("span", null, "workspace ", el("b", { text: ws })), el("span", null, el("b", { text: ok.length }), " experiments"),
        el("span", null, el("b", { text: metricNames.length }), " metrics"), el("span", null, el("b", { text: paramNames.length }), " parameters")),
      el("div", { class: "toolbar" }, filterBox, compareBtn, archivedLink),
      el("div", { class: "table-wrap" }, table), compareArea]);

    function matches(r) {
      if (!filter) return true;
      const needle = filter.toLowerCase();
      const hay = [experimentLabel(r.e), r.e.experimentKey, r.state, ...r.tags,
        ...[...r.params].map(([k, v]) => k + "=" + v), ...[...r.metrics].map(([k, v]) => k + "=" + v)];
      return hay.some((h) => String(h).toLowerCase().includes(needle));
    }

    function compareValues(a, b) {
      const x = num(a), y = num(b);
      if (Number.isFinite(x) && Number.isFinite(y)) return x - y;
      if (a === undefined || a === null) return 1;
      if (b === undefined || b === null) return -1;
      return String(a).localeCompare(String(b));
    }

    function render() {
      clear(table);
      const head = el("tr", null, el("th", { text: "" }));
      columns.forEach((c, i) => {
        const th = el("th", {
          class: "sortable" + (i === sortBy ? (sortDir > 0 ? " sorted-asc" : " sorted-desc") : ""),
          title: c.group ? c.group + " " + c.title : c.title, text: c.title,
          onclick: () => { if (sortBy === i) sortDir = -sortDir; else { sortBy = i; sortDir = 1; } render(); },
        });
        head.appendChild(th);
      });
      add(table, [head]);
      const shown = ok.filter(matches).sort((a, b) => {
        const va = columns[sortBy].value(a), vb = columns[sortBy].value(b);
        const missing = (v) => v === undefined || v === null || v === "";
        if (missing(va) !== missing(vb)) return missing(va) ? 1 : -1;
        return sortDir * compareValues(va, vb);
      });
      for (const r of shown) {
        const box = el("input", { type: "checkbox", "aria-label": "select " + experimentLabel(r.e) });
        box.checked = selected.has(r.e.experimentKey);
        box.addEventListener("change", () => {
          if (box.checked) selected.add(r.e.experimentKey); else selected.delete(r.e.experimentKey);
          compareBtn.disabled = selected.size < 2;
        });
        const tr = el("tr", { "data-key": r.e.experimentKey }, el("td", null, box));
        for (const c of columns) add(tr, [el("td", { class: c.num ? "num" : c.nowrap ? "nowrap" : null }, c.cell(r))]);
        add(table, [tr]);
      }
      if (!shown.length) add(table, [el("tr", null, el("td", { colspan: columns.length + 1, class: "muted", text: ok.length ? "No experiment matches the filter." : "No experiments yet." }))]);
      compareBtn.disabled = selected.size < 2;
    }

    filterBox.addEventListener("input", () => { filter = filterBox.value; render(); });
    async function showCompare() {
      clear(compareArea);
      const runs = ok.filter((r) => selected.has(r.e.experimentKey)).map((r) => ({ key: r.e.experimentKey, label: experimentLabel(r.e) }));
      if (runs.length < 2) return;
      const q = new URLSearchParams(location.search);
      q.set("compare", runs.map((r) => r.key).join(","));
      history.replaceState(null, "", location.pathname + "?" + q.toString());
      add(compareArea, [el("h2", { text: "Comparing " + runs.length + " experiments" }),
        el("div", { class: "legend" }, runs.map((r, i) => {
          const sw = el("span", { class: "swatch" }); sw.style.background = COLORS[i % COLORS.length];
          return el("span", null, sw, r.label);
        }))]);
      const holder = el("div");
      add(compareArea, [holder]);
      await metricCharts(holder, runs);
    }
    compareBtn.addEventListener("click", () => { showCompare().catch(fail); });
    render();
    if (selected.size >= 2) await showCompare();
  }

  // ---- One experiment ------------------------------------------------------------------
  async function experimentPage(ws, project, key) {
    const k = { experimentKey: key };
    const meta = await api("experiment/metadata", k);
    const name = meta.experimentName || key;
    crumbs([link(ws, []), link(project, [ws, project]), el("span", { text: name })]);
    const [tags, listing] = await Promise.all([
      api("experiment/tags", k),
      api("experiments", { workspaceName: ws, projectName: project }).catch(() => ({ experiments: [] })),
    ]);
    const m = clear(main());
    const state = runState(meta, meta.archived);
    const sections = [["charts", "Metrics"], ["parameters", "Parameters"], ["others", "Others"],
      ["images", "Images"], ["tables", "Tables"], ["curves", "Curves"], ["confusion", "Confusion matrices"], ["texts", "Text"],
      ["assets", "Assets"], ["artifacts", "Artifacts"], ["output", "Output"], ["code", "Code"], ["system", "System details"]];
    add(m, [el("h1", { text: name }),
      el("div", { class: "meta" },
        el("span", null, "key ", el("b", { class: "mono", text: key })),
        el("span", null, "state ", el("b", { class: "state-" + state, text: state })),
        el("span", null, "duration ", el("b", { text: fmtDuration(meta.durationMillis) || "–" })),
        el("span", null, "started ", el("b", { text: fmtTime(meta.startTimeMillis) || "–" }))),
      meta.hasCrashed && meta.error ? el("pre", { class: "error", text: String(meta.error) }) : null,
      el("div", { id: "tags" }, (tags.tags || []).map(chip)),
      el("nav", { class: "section-nav" }, sections.map(([id, t]) => el("a", { href: "#" + id, text: t })))]);

    // Metrics, with other experiments of the project overlaid when chosen.
    const others = (listing.experiments || []).filter((e) => e.experimentKey !== key);
    const compare = new Set((new URLSearchParams(location.search).get("compare") || "").split(",").filter(Boolean));
    const charts = section("charts", "Metrics");
    const chartArea = el("div");
    async function drawCharts() {
      const runs = [{ key: key, label: name }].concat(others.filter((e) => compare.has(e.experimentKey))
        .map((e) => ({ key: e.experimentKey, label: experimentLabel(e) })));
      await metricCharts(chartArea, runs);
    }
    if (others.length) {
      const picks = el("div", { class: "compare-list" }, el("span", { class: "muted", text: "Overlay:" }));
      for (const e of others) {
        const box = el("input", { type: "checkbox" });
        box.checked = compare.has(e.experimentKey);
        box.addEventListener("change", () => {
          if (box.checked) compare.add(e.experimentKey); else compare.delete(e.experimentKey);
          const q = new URLSearchParams(location.search);
          if (compare.size) q.set("compare", [...compare].join(",")); else q.delete("compare");
          const qs = q.toString();
          history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
          drawCharts().catch(fail);
        });
        add(picks, [el("label", null, box, " ", experimentLabel(e))]);
      }
      add(charts, [picks]);
    }
    add(charts, [chartArea]);
    add(m, [charts]);
    const pending = [drawCharts()];
    // While the run is alive its charts follow it.
    if (meta.running) {
      const timer = setInterval(async () => {
        if (document.hidden) return;
        try {
          const now = await api("experiment/metadata", k);
          await drawCharts();
          if (!now.running) clearInterval(timer);
        } catch (e) { clearInterval(timer); }
      }, 10000);
    }

    // Parameters and others.
    for (const [id, title, path] of [["parameters", "Parameters", "experiment/parameters"], ["others", "Others", "experiment/log-other"]]) {
      const s = section(id, title);
      add(m, [s]);
      pending.push(api(path, k).then((r) => {
        const vals = r.values || [];
        add(s, [vals.length ? kvTable(vals.map((v) => [v.name, showJson(v.valueCurrent)])) : el("p", { class: "muted", text: "None logged." })]);
      }));
    }

    // Assets, by kind.
    const sImages = section("images", "Images"), sTables = section("tables", "Tables"),
      sCurves = section("curves", "Curves"), sConfusion = section("confusion", "Confusion matrices"),
      sTexts = section("texts", "Text"), sAssets = section("assets", "Assets");
    add(m, [sImages, sTables, sCurves, sConfusion, sTexts, sAssets]);
    pending.push(api("experiment/asset/list", { experimentKey: key, type: "all" }).then((r) =>
      showAssets(key, r.assets || [], { sImages, sTables, sCurves, sConfusion, sTexts, sAssets })));

    const sArtifacts = section("artifacts", "Artifacts");
    add(m, [sArtifacts]);
    pending.push(showArtifacts(ws, key, sArtifacts));

    const sOutput = section("output", "Output"), sCode = section("code", "Code"), sSystem = section("system", "System details");
    add(m, [sOutput, sCode, sSystem]);
    pending.push(api("experiment/output", k).then((r) =>
      add(sOutput, [r.output ? el("pre", { text: r.output }) : el("p", { class: "muted", text: "No output captured." })])));
    pending.push(api("experiment/code", k).then((r) =>
      add(sCode, [r.code ? el("pre", { text: r.code }) : el("p", { class: "muted", text: "No code logged." })])));
    pending.push(Promise.all([api("experiment/system-details", k), api("experiment/git/metadata", k).catch(() => ({}))]).then(([sys, git]) => {
      const rows = Object.entries(sys).filter(([n, v]) => n !== "experimentKey" && v !== null && !(Array.isArray(v) && !v.length));
      const gitRows = Object.entries(git || {}).filter(([, v]) => v !== null && v !== "");
      const fileRows = [["file", meta.fileName], ["path", meta.filePath]].filter(([, v]) => v);
      const all = rows.map(([n, v]) => [n, showJson(v)]).concat(fileRows, gitRows.map(([n, v]) => ["git " + n, showJson(v)]));
      add(sSystem, [all.length ? kvTable(all) : el("p", { class: "muted", text: "No system details logged." })]);
    }));
    const results = await Promise.allSettled(pending);
    for (const r of results) {
      if (r.status === "rejected") {
        if (r.reason instanceof KeyNeeded) throw r.reason;
        add(m, [el("p", { class: "error", text: "Part of this page could not be loaded: " + r.reason.message })]);
      }
    }
  }

  function isImage(a) {
    return a.type === "image" || /\.(png|jpe?g|gif|svg|webp)$/i.test(a.fileName || "");
  }

  function isTable(a) {
    return a.type === "dataframe" || /\.(csv|tsv)$/i.test(a.fileName || "");
  }

  async function showAssets(key, assets, s) {
    const local = assets.filter((a) => !a.remote);
    const images = local.filter(isImage).slice(0, MAX_IMAGES);
    const tables = local.filter((a) => isTable(a) && !isImage(a));
    const curves = local.filter((a) => a.type === "curve");
    const matrices = local.filter((a) => a.type === "confusion-matrix");
    const texts = local.filter((a) => a.type === "text-sample").slice(0, MAX_TABLE_ROWS);

    const gallery = el("div", { class: "gallery" });
    add(s.sImages, [images.length ? gallery : el("p", { class: "muted", text: "No images logged." })]);
    await mapLimit(images, 4, async (a) => {
      const blob = await assetBlob(key, a.assetId);
      const img = el("img", { alt: a.fileName, "data-asset": a.fileName });
      img.src = URL.createObjectURL(blob);
      add(gallery, [el("figure", null, img, el("figcaption", { text: a.fileName + (a.step !== null && a.step !== undefined ? " · step " + a.step : "") }))]);
    });

    if (!tables.length) add(s.sTables, [el("p", { class: "muted", text: "No tables logged." })]);
    await mapLimit(tables, 2, async (a) => {
      add(s.sTables, [el("h3", { text: a.fileName })]);
      if (a.fileSize > MAX_TABLE_BYTES) { add(s.sTables, [el("p", { class: "muted", text: "Too large to show here (" + fmtBytes(a.fileSize) + ")." })]); return; }
      const text = await (await assetBlob(key, a.assetId)).text();
      add(s.sTables, [csvTable(text, /\.tsv$/i.test(a.fileName) ? "\t" : ",")]);
    });

    if (!curves.length) add(s.sCurves, [el("p", { class: "muted", text: "No curves logged." })]);
    const cgrid = el("div", { class: "charts" });
    add(s.sCurves, [cgrid]);
    await mapLimit(curves, 4, async (a) => {
      const c = JSON.parse(await (await assetBlob(key, a.assetId)).text());
      const xs = c.x || [], ys = c.y || [];
      const pts = [];
      for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
        const x = num(xs[i]), y = num(ys[i]);
        if (Number.isFinite(x) && Number.isFinite(y)) pts.push([x, y]);
      }
      const title = c.name || a.fileName;
      add(cgrid, [lineChart(title, [{ label: title, color: COLORS[0], points: pts }], "x")]);
    });

    if (!matrices.length) add(s.sConfusion, [el("p", { class: "muted", text: "No confusion matrices logged." })]);
    await mapLimit(matrices, 2, async (a) => {
      const cm = JSON.parse(await (await assetBlob(key, a.assetId)).text());
      add(s.sConfusion, [confusionTable(cm, a.fileName)]);
    });

    if (!texts.length) add(s.sTexts, [el("p", { class: "muted", text: "No text logged." })]);
    const textList = el("div");
    add(s.sTexts, [textList]);
    const shown = await mapLimit(texts, 4, async (a) => (await assetBlob(key, a.assetId)).text());
    texts.forEach((a, i) => {
      if (typeof shown[i] !== "string") return;
      const step = a.step === null || a.step === undefined ? "" : "step " + a.step;
      add(textList, [el("div", { class: "muted", text: step }), el("pre", { text: shown[i] })]);
    });

    const t = el("table", null, el("tr", null, ["File", "Type", "Size", "Step", "Logged", ""].map((h) => el("th", { text: h }))));
    for (const a of assets) {
      const get = a.remote ? el("span", { class: "muted mono", text: a.link || "" }) : el("button", {
        class: "plain", text: "Download",
        onclick: async () => {
          const blob = await assetBlob(key, a.assetId);
          const u = URL.createObjectURL(blob);
          const dl = el("a", { href: u, download: a.fileName });
          document.body.appendChild(dl); dl.click(); dl.remove();
          setTimeout(() => URL.revokeObjectURL(u), 10000);
        },
      });
      add(t, [el("tr", null, el("td", { text: a.fileName }), el("td", { text: a.type }), el("td", { class: "num", text: fmtBytes(a.fileSize) }),
        el("td", { class: "num", text: a.step === null || a.step === undefined ? "" : a.step }), el("td", { text: fmtTime(a.createdAt) }), el("td", null, get))]);
    }
    add(s.sAssets, [assets.length ? el("div", { class: "table-wrap" }, t) : el("p", { class: "muted", text: "No assets logged." })]);
  }

  // RFC 4180 fields: quoted fields may hold separators, quotes ("") and newlines.
  function parseDelimited(text, sep) {
    const rows = [];
    let row = [], field = "", quoted = false;
    for (let i = 0; i < text.length; i++) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"') { if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false; } else field += ch;
      } else if (ch === '"' && field === "") quoted = true;
      else if (ch === sep) { row.push(field); field = ""; }
      else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i++;
        row.push(field); rows.push(row); row = []; field = "";
        if (rows.length > MAX_TABLE_ROWS) break;
      } else field += ch;
    }
    if (field !== "" || row.length) { row.push(field); rows.push(row); }
    return rows;
  }

  // A table's first rows, and a button for the rest (up to MAX_TABLE_ROWS).
  function csvTable(text, sep) {
    const rows = parseDelimited(text, sep);
    if (!rows.length) return el("p", { class: "muted", text: "Empty table." });
    const t = el("table", { class: "data" }, el("tr", null, rows[0].map((h) => el("th", { text: h }))));
    const body = rows.slice(1, MAX_TABLE_ROWS + 1);
    const addRows = (from, to) => {
      for (const r of body.slice(from, to)) {
        add(t, [el("tr", null, r.map((v) => el("td", { class: Number.isFinite(num(v)) ? "num" : null, text: v })))]);
      }
    };
    addRows(0, SHOWN_TABLE_ROWS);
    const wrap = el("div", { class: "table-wrap" }, t);
    const more = rows.length > MAX_TABLE_ROWS + 1 ? "the first " + MAX_TABLE_ROWS : "all " + body.length;
    if (body.length > SHOWN_TABLE_ROWS) {
      const button = el("button", { class: "plain", text: "Show " + more + " rows" });
      button.addEventListener("click", () => { addRows(SHOWN_TABLE_ROWS, body.length); button.remove(); });
      add(wrap, [el("div", { class: "toolbar" }, button)]);
    }
    return wrap;
  }

  function confusionTable(cm, fileName) {
    const labels = cm.labels || [];
    const matrix = cm.matrix || [];
    const max = Math.max(1, ...matrix.flat().map(num).filter(Number.isFinite));
    const t = el("table", { class: "matrix" });
    add(t, [el("tr", null, el("th", { text: "" }), el("th", { colspan: Math.max(1, labels.length), text: cm.columnLabel || "Predicted" }))]);
    add(t, [el("tr", null, el("th", { text: cm.rowLabel || "Actual" }), labels.map((l) => el("th", { text: l })))]);
    matrix.forEach((row, i) => {
      const tr = el("tr", null, el("th", { text: labels[i] !== undefined ? labels[i] : String(i) }));
      for (const v of row) {
        const x = num(v);
        const td = el("td", { text: fmtValue(v) });
        const a = Number.isFinite(x) ? x / max : 0;
        td.style.background = "rgba(36, 88, 198, " + (0.08 + 0.8 * a).toFixed(3) + ")";
        if (a > 0.55) td.style.color = "#fff";
        add(tr, [td]);
      }
      add(t, [tr]);
    });
    return el("div", null, el("h3", { text: cm.title || fileName }), el("div", { class: "table-wrap" }, t));
  }

  async function showArtifacts(ws, key, s) {
    const arts = (await api("artifacts/get-all", { workspace: ws })).artifacts || [];
    const full = await mapLimit(arts, 4, (a) => api("artifacts/get", { artifactId: a.artifactId }));
    const t = el("table", null, el("tr", null, ["Artifact", "Type", "Version", "Aliases", "Tags", "Size", "State", "Files"].map((h) => el("th", { text: h }))));
    let n = 0;
    for (const a of full) {
      if (!a || a.error) continue;
      for (const v of (a.versions || []).filter((x) => x.experimentKey === key)) {
        n++;
        const files = el("td");
        add(t, [el("tr", null, el("td", { text: a.artifactName }), el("td", { text: a.artifactType || "" }),
          el("td", { class: "mono", text: v.version }), el("td", null, (v.alias || []).map(chip)), el("td", null, (v.tags || []).map(chip)),
          el("td", { class: "num", text: fmtBytes(v.sizeInBytes) }), el("td", { text: v.state || "" }), files)]);
        api("artifacts/version/files", { artifactVersionId: v.artifactVersionId }).then((r) => {
          add(files, [(r.files || []).map((f) => el("div", { class: "mono", text: f.fileName + " (" + fmtBytes(f.fileSize) + ")" }))]);
        }).catch(() => { /* a version still open has no listing yet */ });
      }
    }
    add(s, [n ? el("div", { class: "table-wrap" }, t) : el("p", { class: "muted", text: "No artifacts logged by this experiment." })]);
  }

  // ---- Start ---------------------------------------------------------------------------
  async function start() {
    takeKeyFromFragment();
    let parts;
    try {
      parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (e) {
      parts = null;
    }
    if (!parts) throw new Error("this address is not a page of the dashboard");
    if (parts.length === 0) return homePage();
    if (parts.length === 2) return projectPage(parts[0], parts[1]);
    if (parts.length === 3) return experimentPage(parts[0], parts[1], parts[2]);
    if (parts.length === 4 && parts[2] === "archived") return experimentPage(parts[0], parts[1], parts[3]);
    throw new Error("this address is not a page of the dashboard");
  }

  function boot() { start().then(done, fail); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
