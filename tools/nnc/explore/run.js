// nnc explore, the Training tab (with --run DIR): the checkpoint's loss (and accuracy) curves
// drawn by uPlot (hover for the values of an epoch), the epochs as a table, the model's
// reconstructions of the first test images, and the first layer's learned filters (marked when
// that layer is selected). Registers itself for explore.js through window.nncExtraTabs.
"use strict";
window.nncExtraTabs = window.nncExtraTabs || [];
window.nncExtraTabs.push({
  id: "run",
  title: "Training",
  when: (data) => !!data.run,
  body: (data, ui) => {
    const { el } = ui;
    const run = data.run, h = run.history;
    const wrap = el("div", { id: "run-panel" });
    wrap.append(el("p", { text: `${run.checkpoint}: ${run.epoch} epoch${run.epoch === 1 ? "" : "s"}` +
      `${run.step ? ` and ${run.step} steps` : ""} of ${run.optimizer}, batch ${run.batch}` }));
    if (run.note) wrap.append(el("p", { class: "empty", text: run.note }));
    // One uPlot chart per quantity: drawn when its box first has a width (a hidden tab has none).
    const chart = (id, title, yLabel, curves) => {
      const box = el("div", { id });
      wrap.append(el("h3", { text: title }), box);
      const series = [{ label: "epoch" }], columns = [h.epoch];
      for (const [key, stroke] of curves)
        if (h[key] && h[key].some((v) => v !== null)) {
          series.push({ label: key, stroke, width: 2, points: { show: true, size: 6 } });
          columns.push(h[key]);
        }
      let plot = null;
      const draw = () => {
        if (!box.clientWidth) return;
        const width = Math.max(320, Math.min(900, box.clientWidth));
        if (plot) { plot.setSize({ width, height: 260 }); return; }
        if (typeof uPlot === "undefined") { box.append(el("p", { class: "empty", text: "uPlot is missing" })); return; }
        plot = new uPlot({ width, height: 260, series, scales: { x: { time: false } },
          axes: [{ label: "epoch", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] }, { label: yLabel }] }, columns, box);
      };
      new ResizeObserver(draw).observe(box);
    };
    chart("loss-chart", "loss per epoch", "loss", [["loss", "#2563eb"], ["val_loss", "#c2410c"]]);
    if (h.accuracy) chart("accuracy-chart", "accuracy per epoch", "accuracy", [["accuracy", "#2563eb"], ["val_accuracy", "#c2410c"]]);
    const keys = ["loss", "val_loss", ...(h.accuracy ? ["accuracy", "val_accuracy"] : []), "seconds"];
    const table = el("table", { class: "grid", id: "history-table" },
      el("tr", {}, ...["epoch", ...keys].map((t) => el("th", { class: "num", text: t }))));
    const cell = (v, digits) => el("td", { class: "num", text: v === null ? "-" : v.toFixed(digits) });
    h.epoch.forEach((e, i) => table.append(el("tr", {}, el("td", { class: "num", text: String(e) }),
      ...keys.map((k) => cell(h[k][i], k === "seconds" ? 1 : 4)))));
    wrap.append(table);
    const rec = run.reconstructions;
    if (rec && rec.image) {
      wrap.append(el("h3", { text: `reconstructions: ${rec.count} test images of ${run.data} (top) and the model's outputs (bottom); loss on them ${rec.loss.toFixed(4)}` }));
      const img = el("img", { id: "reconstructions", src: rec.image, alt: "test images above their reconstructions" });
      img.addEventListener("load", () => { img.width = img.naturalWidth * 3; });
      wrap.append(el("div", { class: "images" }, img));
    }
    const f = run.filters;
    if (f && f.images) {
      wrap.append(el("h3", { text: `filters of ${f.layer} (${f.tensor}), each scaled to its own range: dark = most negative, light = most positive` }));
      const box = el("div", { class: "images", id: "filters", "data-layer": f.layer });
      f.images.forEach((src, i) => {
        const img = el("img", { src, alt: `filter ${i}`, title: `${f.layer} filter ${i}` });
        img.addEventListener("load", () => { img.width = Math.max(48, img.naturalWidth * 16); });
        box.append(img);
      });
      wrap.append(box);
    }
    return wrap;
  },
  onSelect: (layer) => {
    const box = document.getElementById("filters");
    if (box) box.classList.toggle("hl", box.dataset.layer === layer.name);
  },
});
