// nnc explore, the Profile tab (with --profile): the timed training steps' summary, the time
// per layer as bars, and every kernel's time per step, share and GFLOP/s, slowest first, with
// a bar each; a kernel's layers are links that select the layer, and the selected layer's
// kernels and bar are marked. Registers itself for explore.js through window.nncExtraTabs.
"use strict";
window.nncExtraTabs = window.nncExtraTabs || [];
window.nncExtraTabs.push({
  id: "profile",
  title: "Profile",
  when: (data) => !!data.profile,
  body: (data, ui) => {
    const { el } = ui;
    const p = data.profile;
    const ms = (s) => (s * 1e3).toFixed(3);
    const idOf = new Map(data.layers.map((l) => [l.name, l.id]));
    const total = p.kernels.reduce((a, k) => a + k.seconds, 0);
    const flops = p.kernels.reduce((a, k) => a + k.flops, 0);
    const wrap = el("div", { id: "profile-panel" });
    wrap.append(el("p", { text: `${p.steps} timed training steps of batch ${p.batch} (${p.optimizer}), after one warm-up step, on random inputs in [0, 1), ${p.threads} hardware threads: ` +
      `${(p.stepSeconds * 1e3).toFixed(2)} ms per step (${(p.stepFlops / p.stepSeconds * 1e-9).toFixed(2)} GFLOP/s), ${(total * 1e3).toFixed(2)} ms of it in the kernels ` +
      `(${total > 0 ? (flops / total * 1e-9).toFixed(2) : "0"} GFLOP/s); compiled in ${(p.compileSeconds * 1e3).toFixed(0)} ms.` }));
    const layerLink = (name) => {
      const a = el("a", { href: "#", class: "layer-link", "data-layer-name": name, text: name });
      a.addEventListener("click", (e) => { e.preventDefault(); if (idOf.has(name)) window.nncSelect(idOf.get(name)); });
      return a;
    };
    const perLayer = new Map();
    for (const k of p.kernels)
      for (const l of k.layers) perLayer.set(l, (perLayer.get(l) || 0) + k.seconds / k.layers.length);
    const maxLayer = Math.max(1e-12, ...perLayer.values());
    const layerTable = el("table", { class: "grid", id: "profile-layers" },
      el("tr", {}, el("th", { text: "layer" }), el("th", { class: "num", text: "ms / step" }), el("th", { text: "" })));
    for (const [name, secs] of [...perLayer].sort((a, b) => b[1] - a[1]))
      layerTable.append(el("tr", { "data-layers": name }, el("td", {}, layerLink(name)), el("td", { class: "num", text: ms(secs) }),
        el("td", {}, el("span", { class: "bar", style: `width: ${Math.max(1, (secs / maxLayer) * 300)}px` }))));
    wrap.append(el("h3", { text: "time per layer (a kernel of several layers shared equally)" }), layerTable);
    const maxKernel = Math.max(1e-12, ...p.kernels.map((k) => k.seconds));
    const table = el("table", { class: "grid", id: "profile-kernels" },
      el("tr", {}, ...["ms / step", "%", "GFLOP/s", "", "kernel", "layers", "role"].map((t, i) => el("th", { class: i <= 2 ? "num" : "", text: t }))));
    for (const k of [...p.kernels].sort((a, b) => b.seconds - a.seconds)) {
      const links = el("td", {});
      k.layers.forEach((l, i) => { if (i) links.append(", "); links.append(layerLink(l)); });
      table.append(el("tr", { class: "kernel-row", "data-kernel": k.name, "data-layers": k.layers.join(" ") },
        el("td", { class: "num", text: ms(k.seconds) }), el("td", { class: "num", text: total > 0 ? (100 * k.seconds / total).toFixed(1) : "0" }),
        el("td", { class: "num", text: k.gflops.toFixed(2) }),
        el("td", {}, el("span", { class: "bar", style: `width: ${Math.max(1, (k.seconds / maxKernel) * 120)}px` })),
        el("td", { class: "mono kcell", text: k.name }), links, el("td", { text: k.role })));
    }
    wrap.append(el("h3", { text: "kernels, slowest first" }), table);
    wrap.append(el("h3", { text: "compile time" }), el("pre", { text: p.compileReport }));
    return wrap;
  },
  onSelect: (layer) => {
    for (const row of document.querySelectorAll("#profile-panel tr[data-layers]"))
      row.classList.toggle("hl", row.dataset.layers.split(" ").includes(layer.name));
  },
});
