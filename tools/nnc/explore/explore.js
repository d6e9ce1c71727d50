// nnc explore: wires the page's data (the JSON in #nnc-data, written by nnc) to the Graphviz
// SVG of the model: a click on a layer fills the layer panel and highlights the layer's lines
// in every stage tab (tokens and AST by source line, IR and training graph by the layer named
// in each line's comment, fusion report and memory plan by the layer's values).
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("nnc-data").textContent);
  const stages = data.stages;
  const layers = data.layers;
  const layerById = new Map(layers.map((l) => [l.id, l]));
  const kernels = data.kernels;
  const profiled = new Map(((data.profile || {}).kernels || []).map((k) => [k.name, k]));
  const timing = (name) => {
    const k = profiled.get(name);
    return k ? el("span", { class: "timing", text: ` ${(k.seconds * 1e3).toFixed(3)} ms per step, ${k.gflops.toFixed(2)} GFLOP/s` }) : null;
  };

  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };
  const svgEl = (tag, attrs) => {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  };
  const human = (b) => {
    const units = ["B", "KiB", "MiB", "GiB"];
    let u = 0;
    while (b >= 1024 && u < units.length - 1) { b /= 1024; u++; }
    return u === 0 ? `${b} B` : `${b.toFixed(1)} ${units[u]}`;
  };
  const commas = (v) => Math.round(v).toLocaleString("en-US");

  // Which layer each IR line and each value belongs to: the comment "# LAYER @LINE:COL".
  const commentRe = /# (\S+) @\d+:\d+( kept)?\s*$/;
  const lineLayer = (line) => { const m = commentRe.exec(line); return m ? m[1] : null; };
  const valueLayer = new Map();
  for (const text of [stages.ir, stages.grad || ""])
    for (const line of text.split("\n")) {
      const m = /^\s*%([^:\s]+):/.exec(line);
      if (m && lineLayer(line)) valueLayer.set(m[1], lineLayer(line));
    }
  const valuesIn = (line) => [...line.matchAll(/%([A-Za-z0-9_.]+[A-Za-z0-9_])/g)].map((m) => m[1]);
  const mentionsLayer = (line, name) => valuesIn(line).some((v) => valueLayer.get(v) === name);

  // The training graph's sections, for the panel's forward / gradient / update ops.
  const sections = { forward: [], backward: [], update: [] };
  {
    let at = "forward";
    for (const line of (stages.grad || stages.ir).split("\n")) {
      const m = /# --- (forward|backward|update) ---/.exec(line);
      if (m) at = m[1];
      else if (lineLayer(line)) sections[at].push(line.trim().replace(/\s{2,}#/, "  #"));
    }
  }

  // A <pre> with one span per line, so lines can be highlighted.
  const linesPre = (text, cls) => {
    const pre = el("pre", { class: cls || "" });
    const spans = [];
    for (const line of text.replace(/\n$/, "").split("\n")) {
      const s = el("span", { class: "ln", text: line || " " });
      spans.push(s);
      pre.append(s);
    }
    pre.spans = spans;
    return pre;
  };
  const highlight = (pre, pred) => {
    let first = null;
    pre.spans.forEach((s) => {
      const on = pred(s.textContent);
      s.classList.toggle("hl", on);
      if (on && !first) first = s;
    });
    return first;
  };

  // Tabs.
  const tabs = [];
  let current = null;
  let selected = null;
  const nav = document.getElementById("tabs");
  const bodies = document.getElementById("tab-bodies");
  const addTab = (id, title, body, onSelect) => {
    const button = el("button", { role: "tab", "data-tab": id, "aria-selected": "false", text: title });
    const section = el("div", { class: "tab-body", id: `tab-${id}`, role: "tabpanel", "data-title": title }, body);
    button.addEventListener("click", () => showTab(id));
    nav.append(button);
    bodies.append(section);
    tabs.push({ id, button, section, onSelect });
  };
  const showTab = (id) => {
    for (const t of tabs) {
      const on = t.id === id;
      t.button.setAttribute("aria-selected", on ? "true" : "false");
      t.section.classList.toggle("active", on);
      if (on) current = t;
    }
    scrollToMark();
  };
  const scrollToMark = () => {
    if (!current) return;
    const mark = current.section.querySelector(".hl");
    if (mark && current.id !== "layer") {
      const box = bodies.getBoundingClientRect();
      const at = mark.getBoundingClientRect();
      bodies.scrollTop += at.top - box.top - box.height / 3;
    } else {
      bodies.scrollTop = 0;
    }
  };

  // The layer panel.
  const panel = el("div", { id: "layer-panel" });
  const section = (title, ...content) => [el("h3", { text: title }), ...content];
  const codeBlock = (kernel, layer) => {
    const holder = el("div");
    const names = new Set([...valueLayer].filter(([, l]) => l === layer.name).map(([v]) => v.replace(/\./g, "_")));
    const ownLine = (line) => [...line.matchAll(/%p\.([A-Za-z0-9_]+)/g)].some((m) => names.has(m[1]));
    const views = [["llvm", "LLVM IR"], ["llvmOpt", "after O3"], ["asm", "assembly"]];
    const buttons = el("div", { class: "code-tabs" });
    const show = (key) => {
      holder.replaceChildren();
      const pre = linesPre(kernel[key] || "(empty)");
      if (key !== "asm") highlight(pre, ownLine);
      holder.append(pre);
      for (const b of buttons.children) b.classList.toggle("on", b.dataset.view === key);
    };
    for (const [key, title] of views) {
      const b = el("button", { "data-view": key, text: title });
      b.addEventListener("click", () => show(key));
      buttons.append(b);
    }
    const shared = kernel.body && kernel.body !== `${kernel.name}.body`
      ? ` (its loops are ${kernel.body}, shared with an identical kernel: compiled once)` : "";
    const details = el("details", { class: "kernel-code" }, el("summary", { text: `loops: LLVM IR, after O3, assembly${shared}` }), buttons, holder);
    details.addEventListener("toggle", () => { if (details.open && !holder.firstChild) show("llvm"); });
    return details;
  };
  const renderLayer = (l) => {
    const facts = el("table", { class: "facts" });
    const fact = (k, v) => facts.append(el("tr", {}, el("th", { text: k }), el("td", { text: v })));
    fact("output shape", `${l.shape}   ${l.irType}`);
    fact("weights", l.weights || "none");
    fact("parameters", l.paramsText);
    fact("MACs per example", l.macsText);
    if (l.spatial) fact("receptive field / jump", `${l.rf} / ${l.jump}`);
    fact("activation per example", `${human(l.activationBytes)} (${commas(l.activationBytes)} bytes)`);
    fact("kept for backward", `${human(l.keptBytes)} per example`);
    const parts = [el("h2", { text: `${l.name} (${l.type})` }), facts];
    if (l.explain.length) parts.push(...section("arithmetic", el("pre", { class: "explain", text: l.explain.join("\n") })));
    if (l.line > 0) {
      const src = data.source.split("\n");
      const from = Math.max(1, l.line - 1), to = Math.min(src.length, l.line + 1);
      const pre = linesPre(src.slice(from - 1, to).map((s, i) => `${String(from + i).padStart(3)} | ${s}`).join("\n"));
      highlight(pre, (s) => s.startsWith(`${String(l.line).padStart(3)} |`));
      parts.push(...section(`source: ${data.file} line ${l.line}`, pre));
    }
    const ops = (title, list) => parts.push(...section(title, list.length ? el("pre", { class: "ops", text: list.join("\n") }) : el("p", { class: "empty", text: "none" })));
    ops("forward ops", sections.forward.filter((s) => lineLayer(s) === l.name));
    if (stages.grad) {
      ops("gradient ops", sections.backward.filter((s) => lineLayer(s) === l.name));
      ops("optimizer update ops", sections.update.filter((s) => lineLayer(s) === l.name));
    }
    const mine = kernels.filter((k) => k.layers.includes(l.name));
    const list = el("ul", { class: "kernels" });
    for (const k of mine)
      list.append(el("li", { class: "kernel", "data-kernel": k.name },
        el("span", { class: "kname", text: k.name }), ` (${k.role}):`, timing(k.name), " ", el("span", { class: "mono", text: k.members.join(" ") }), codeBlock(k, l)));
    parts.push(...section("kernels", mine.length ? list : el("p", { class: "empty", text: stages.fused ? "none" : "no loss statement: nothing is compiled" })));
    if (stages.fused) {
      const notes = stages.fused.split("\n").filter((s) => !s.startsWith("kernel ") && mentionsLayer(s, l.name));
      const ul = el("ul", { class: "fusion" });
      for (const n of notes) ul.append(el("li", { class: n.startsWith("not fused") ? "refused mono" : "mono", text: n }));
      parts.push(...section("fusion decisions", notes.length ? ul : el("p", { class: "empty", text: "none" })));
    }
    panel.replaceChildren(...parts);
  };

  // The memory plan as a lifetime chart: one rectangle per buffer, kernels across, bytes down.
  const parseRegions = (text) => {
    const regions = [];
    for (const line of text.split("\n")) {
      if (/region/.test(line) && !/^\s/.test(line)) regions.push({ title: line.replace(/:$/, ""), buffers: [] });
      const m = /^\s+%(\S+)\s+offset\s+(\d+) size\s+(\d+)\s+live (\S+)\.\.(\S+)/.exec(line);
      if (m && regions.length)
        regions[regions.length - 1].buffers.push({ name: m[1], offset: +m[2], size: +m[3], from: m[4], to: m[5], line: line.trim() });
    }
    return regions;
  };
  const chart = (region) => {
    const n = kernels.length;
    const col = (s) => (s === "start" ? 0 : s === "end" ? n + 1 : +s.slice(1) + 1);
    const peak = Math.max(1, ...region.buffers.map((b) => b.offset + b.size));
    const W = 900, H = 260, left = 64, top = 8, bottom = 24, cw = (W - left - 8) / (n + 2);
    const svg = svgEl("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
    const y = (v) => top + (v / peak) * (H - top - bottom);
    for (const b of region.buffers) {
      const r = svgEl("rect", { class: "buf", x: left + col(b.from) * cw, y: y(b.offset), width: Math.max(1, (col(b.to) - col(b.from) + 1) * cw - 1), height: Math.max(1, y(b.offset + b.size) - y(b.offset)), "data-value": b.name });
      const t = svgEl("title");
      t.textContent = `%${b.name} (${valueLayer.get(b.name) || "?"}): offset ${commas(b.offset)}, ${commas(b.size)} bytes, live ${b.from}..${b.to}`;
      r.append(t);
      svg.append(r);
    }
    const label = (x, yy, s, anchor) => { const t = svgEl("text", { x, y: yy, "text-anchor": anchor || "start" }); t.textContent = s; svg.append(t); };
    label(left - 4, top + 10, "0", "end");
    label(left - 4, H - bottom, human(peak), "end");
    label(left, H - 6, "start");
    for (let k = 0; k < n; k += Math.max(1, Math.ceil(n / 12))) label(left + (k + 1.5) * cw, H - 6, `k${k}`, "middle");
    label(W - 8, H - 6, "end", "end");
    return svg;
  };
  const memoryBody = () => {
    if (!stages.memory) return el("p", { class: "empty", text: "no loss statement: no training graph, no memory plan" });
    const wrap = el("div");
    const regions = parseRegions(stages.memory);
    wrap.append(el("p", { text: "Each rectangle is one buffer of the arena: its offset and size downwards, the kernels it lives through across (hover for numbers). Buffers whose lifetimes do not overlap share bytes." }));
    for (const r of regions) wrap.append(el("h3", { text: r.title }), chart(r));
    const pre = linesPre(stages.memory, "stage");
    wrap.append(el("h3", { text: "the plan" }), pre);
    wrap.pre = pre;
    return wrap;
  };

  // Stage tabs and their highlight rules.
  const stagePre = (text) => linesPre(text || "", "stage");
  const tokensPre = stagePre(stages.tokens), astPre = stagePre(stages.ast), irPre = stagePre(stages.ir);
  const gradPre = stages.grad ? stagePre(stages.grad) : null, fusedPre = stages.fused ? stagePre(stages.fused) : null;
  const memory = memoryBody();
  const atLine = (l) => (s) => l.line > 0 && new RegExp(`^\\s*${l.line}:`).test(s);
  addTab("layer", "Layer", panel, renderLayer);
  addTab("tokens", "Tokens", tokensPre, (l) => highlight(tokensPre, atLine(l)));
  addTab("ast", "AST", astPre, (l) => highlight(astPre, atLine(l)));
  addTab("ir", "IR", irPre, (l) => highlight(irPre, (s) => lineLayer(s) === l.name));
  const none = (what) => el("p", { class: "empty", text: `no loss statement: no ${what}` });
  addTab("grad", "Training graph", gradPre || none("training graph"), (l) => gradPre && highlight(gradPre, (s) => lineLayer(s) === l.name));
  addTab("fused", "Fused kernels", fusedPre || none("kernels"), (l) => fusedPre && highlight(fusedPre, (s) => mentionsLayer(s, l.name)));
  addTab("memory", "Memory plan", memory, (l) => {
    if (!memory.pre) return;
    highlight(memory.pre, (s) => mentionsLayer(s, l.name));
    for (const r of memory.querySelectorAll("rect.buf")) r.classList.toggle("hl", valueLayer.get(r.dataset.value) === l.name);
  });
  for (const extra of (window.nncExtraTabs || []).filter((t) => t.when(data))) addTab(extra.id, extra.title, extra.body(data, { el, svgEl, human, commas, linesPre, highlight }), extra.onSelect);

  // The graph.
  const nodes = new Map();
  for (const g of document.querySelectorAll("#graph g.node")) {
    const id = g.querySelector("title").textContent.trim();
    g.dataset.layer = id;
    nodes.set(id, g);
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.addEventListener("click", () => select(id));
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(id); } });
  }
  const edges = [...document.querySelectorAll("#graph g.edge")].map((g) => ({ g, ends: g.querySelector("title").textContent.split("->") }));
  const select = (id) => {
    const l = layerById.get(id);
    if (!l) return;
    selected = l;
    for (const [nid, g] of nodes) g.classList.toggle("selected", nid === id);
    const pane = document.getElementById("graph-pane"), node = nodes.get(id);
    if (node) {
      const p = pane.getBoundingClientRect(), n = node.getBoundingClientRect();
      if (n.top < p.top || n.bottom > p.bottom) pane.scrollTop += n.top - p.top - p.height / 3;
    }
    for (const e of edges) e.g.classList.toggle("selected", e.ends.includes(id));
    for (const t of tabs) if (t.onSelect) t.onSelect(l);
    document.getElementById("model-facts").textContent = `${data.file} · ${data.paramsText} parameters · ${layers.length} nodes · ${kernels.length} kernels · selected: ${l.name}`;
    scrollToMark();
  };
  window.nncSelect = select;

  document.getElementById("model-name").textContent = data.model;
  const first = layers.find((l) => l.params > 0) || layers[0];
  showTab("layer");
  if (first) select(first.id);
})();
