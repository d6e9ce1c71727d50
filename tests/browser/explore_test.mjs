// Headless-browser test of `nnc explore` (ctest browser.explore): for each lecture autoencoder,
// writes the page, opens it in Debian's chromium through puppeteer-core with every network
// request blocked (any request other than the page file itself fails the test), and checks:
// the graph has exactly the nodes and edges of `nnc dot`, each layer's outgoing edges carry the
// output shape `nnc summary` prints for it, a click on the first conv layer shows its 160
// parameters and the kernel it was fused into (as `nnc dump --emit=llvm` names it) with that
// kernel's code, and every stage tab opens with the selected layer's lines marked; with --run
// (a 2-epoch training run made first), the Training tab's chart, table and images; with
// --profile, the Profile tab's row per kernel and its links to layers. Saves
// laptop-sized screenshots into the output directory.
// Runs in Chromium, and in Firefox too when Debian's firefox-esr is installed.
// Usage: node explore_test.mjs NNC SOURCE_DIR OUT_DIR [CHROMIUM [FIREFOX]]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

let puppeteer;
try {
  puppeteer = (await import("puppeteer-core")).default;
} catch {
  console.log("SKIP: puppeteer-core is not installed (run: npm ci --prefix tests/browser)");
  process.exit(77);
}

const [nnc, src, out, chromium = "/usr/bin/chromium", firefox = "/usr/bin/firefox-esr"] = process.argv.slice(2);
if (!fs.existsSync(chromium)) {
  console.log(`SKIP: no browser at ${chromium} (Debian package chromium)`);
  process.exit(77);
}
fs.mkdirSync(out, { recursive: true });
const failures = [];
const check = (ok, what) => {
  if (!ok) failures.push(what);
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
};
const run = (...args) => execFileSync(nnc, args, { cwd: src, encoding: "utf8", maxBuffer: 1 << 28 });

/// The node ids, labels and edges of `nnc dot`'s DOT text.
function parseDot(text) {
  const nodes = new Map(), edges = new Map();
  for (const line of text.split("\n")) {
    let m = /^\s*(v\d+) -> (v\d+) \[label="([^"]*)"\];$/.exec(line);
    if (m) { edges.set(`${m[1]}->${m[2]}`, m[3]); continue; }
    m = /^\s*(v\d+) \[label="([^"]*)"/.exec(line);
    if (m) nodes.set(m[1], m[2].split("\\n")[0]);
  }
  return { nodes, edges };
}

/// Layer name -> output shape as f32[N,...], from the summary table's rows.
function summaryShapes(text) {
  const shapes = new Map();
  for (const line of text.split("\n")) {
    const m = /^ (\S+) \([A-Za-z0-9]+\)\s+\[?\(None((?:, \d+)*)\)\]?/.exec(line);
    if (m) shapes.set(m[1], `f32[N${m[2].replace(/, /g, ",")}]`);
  }
  return shapes;
}

async function testModel(browser, engine, name, extra) {
  const model = name;
  const tag = `${engine}-${model}`;
  const html = path.join(out, `${model}.html`);
  run("explore", `examples/${model}.nn`, "--out", html, ...extra);
  const dot = parseDot(run("dot", `examples/${model}.nn`));
  const shapes = summaryShapes(run("summary", `examples/${model}.nn`));
  const llvm = run("dump", `examples/${model}.nn`, "--emit=llvm");
  const page = await browser.newPage();
  await page.setViewport({ width: 1440, height: 900, deviceScaleFactor: 1 });
  const pageUrl = pathToFileURL(html).href;
  const blocked = [], errors = [];
  // Chromium: with the page's Content-Security-Policy bypassed, a reference the page should
  // not have is requested, and caught here (Firefox has no bypass: its CSP blocks such loads).
  if (engine === "chromium") await page.setBypassCSP(true);
  await page.setRequestInterception(true);
  page.on("request", (req) => {
    // The page itself, and its inline data: images (no network), are the only loads allowed.
    if (req.url() === pageUrl || req.url().startsWith("data:")) return req.continue();
    blocked.push(req.url().slice(0, 100));
    return req.abort();
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(pageUrl, { waitUntil: "load" });

  const graph = await page.$$eval("#graph g.node", (gs) => gs.map((g) => ({
    id: g.querySelector("title").textContent, label: g.querySelector("text").textContent })));
  const svgEdges = await page.$$eval("#graph g.edge", (gs) => gs.map((g) => ({
    ends: g.querySelector("title").textContent, label: g.querySelector("text").textContent })));
  check(graph.length === dot.nodes.size && graph.every((n) => dot.nodes.get(n.id) === n.label),
    `${tag}: one graph node per layer, as in nnc dot (${graph.length} nodes)`);
  check(svgEdges.length === dot.edges.size && svgEdges.every((e) => dot.edges.get(e.ends) === e.label),
    `${tag}: the edges of nnc dot with their shape labels (${svgEdges.length} edges)`);
  let shaped = 0;
  for (const n of graph) {
    const layer = n.label.split(" ")[0];
    for (const e of svgEdges.filter((e) => e.ends.startsWith(`${n.id}->`))) {
      check(e.label === shapes.get(layer), `${tag}: edge out of ${layer} labelled ${e.label}, summary says ${shapes.get(layer)}`);
      shaped++;
    }
  }
  check(shaped === svgEdges.length, `${tag}: every edge starts at a layer of the summary`);

  const conv = graph.find((n) => n.label === "conv2d (Conv2D)");
  await page.click(`#graph g.node[data-layer="${conv.id}"] text`);
  await page.click('#tabs button[data-tab="layer"]');
  const facts = await page.$$eval("#layer-panel table.facts tr", (rows) =>
    Object.fromEntries(rows.map((r) => [r.cells[0].textContent, r.cells[1].textContent])));
  check(facts.parameters === "160", `${tag}: conv2d panel shows 160 parameters (${facts.parameters})`);
  const panelText = await page.$eval("#layer-panel", (p) => p.innerText);
  check(panelText.includes("params = 3 x 3 x 1 x 16 + 16 = 160"), `${tag}: conv2d panel shows the parameter arithmetic`);
  const forward = await page.$$eval("#layer-panel li.kernel", (ls) => ls.map((l) => l.dataset.kernel));
  const fusedInto = forward.find((k) => /^k\d+_conv2d_relu_/.test(k));
  check(fusedInto && llvm.includes(`define void @${fusedInto}(`),
    `${tag}: conv2d panel names the kernel it fused into (${fusedInto}), as nnc dump --emit=llvm does`);
  if (extra.includes("--profile")) {
    const timed = await page.$eval(`#layer-panel li.kernel[data-kernel="${fusedInto}"]`, (l) => l.querySelector(".timing")?.textContent || "");
    check(/ms per step, [\d.]+ GFLOP\/s/.test(timed), `${tag}: with --profile the kernel shows its time (${timed.trim()})`);
  }
  await page.click(`#layer-panel li.kernel[data-kernel="${fusedInto}"] summary`);
  await page.waitForSelector(`#layer-panel li.kernel[data-kernel="${fusedInto}"] pre`, { timeout: 5000 });
  const ir = await page.$eval(`#layer-panel li.kernel[data-kernel="${fusedInto}"] pre`, (p) => p.textContent);
  check(ir.includes(`define void @${fusedInto}(`), `${tag}: the kernel's LLVM IR opens under it`);
  const marked = await page.$$eval(`#layer-panel li.kernel[data-kernel="${fusedInto}"] pre .hl`, (s) => s.length);
  check(marked > 0, `${tag}: the IR lines using conv2d's tensors are marked (${marked})`);
  await page.click(`#layer-panel li.kernel[data-kernel="${fusedInto}"] button[data-view="asm"]`);
  const asm = await page.$eval(`#layer-panel li.kernel[data-kernel="${fusedInto}"] pre`, (p) => p.textContent);
  check(asm.includes(`${fusedInto}:`), `${tag}: its assembly opens on a click`);

  const tabs = await page.$$eval("#tabs button", (bs) => bs.map((b) => b.dataset.tab));
  for (const want of ["layer", "tokens", "ast", "ir", "grad", "fused", "memory"])
    check(tabs.includes(want), `${tag}: has the ${want} tab`);
  for (const tab of tabs) {
    await page.click(`#tabs button[data-tab="${tab}"]`);
    const state = await page.$eval(`#tab-${tab}`, (s) => ({
      visible: s.offsetParent !== null && s.getBoundingClientRect().height > 0,
      marks: s.querySelectorAll(".hl").length, text: s.innerText.length }));
    check(state.visible && state.text > 0, `${tag}: tab ${tab} shows (${state.text} characters)`);
    if (tab !== "profile" && tab !== "run")
      check(state.marks > 0, `${tag}: tab ${tab} marks conv2d's lines (${state.marks})`);
    await page.screenshot({ path: path.join(out, `explore-${tag}-${tab}.png`) });
  }
  const charted = await page.$$eval("#tab-memory rect.buf.hl", (r) => r.length);
  check(charted > 0, `${tag}: the memory chart marks conv2d's buffers (${charted})`);

  if (tabs.includes("run")) await checkRun(page, tag);
  if (tabs.includes("profile")) await checkProfile(page, tag, llvm);
  await page.click(`#graph g.node[data-layer="${conv.id}"] text`);
  await page.click('#tabs button[data-tab="layer"]');
  await page.screenshot({ path: path.join(out, `explore-${tag}.png`) });
  check(blocked.length === 0, `${tag}: no network request (${blocked.join(", ") || "none"})`);
  check(errors.length === 0, `${tag}: no script error (${errors.join("; ") || "none"})`);
  await page.close();
}

/// The Training tab of a page written with --run: uPlot's chart with a value on hover, a table
/// row per epoch, the reconstructions and the first layer's filters decoded as images.
async function checkRun(page, tag) {
  await page.click('#tabs button[data-tab="run"]');
  await page.waitForSelector("#loss-chart .u-over", { timeout: 5000 });
  const rows = await page.$$eval("#history-table tr", (r) => r.length - 1);
  check(rows === 2, `${tag}: the history table has a row per epoch (${rows})`);
  const over = await page.$("#loss-chart .u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
  const legend = await page.$$eval("#loss-chart .u-legend .u-value", (v) => v.map((e) => e.textContent));
  check(legend.length >= 2 && legend.every((v) => v !== "--" && v !== ""), `${tag}: hovering the loss chart shows the epoch's values (${legend.join(", ")})`);
  const images = await page.$$eval("#run-panel img", (is) => is.map((i) => ({ id: i.id, w: i.naturalWidth, h: i.naturalHeight })));
  const recon = images.find((i) => i.id === "reconstructions");
  check(recon && recon.w === 10 * 28 + 9 * 2 && recon.h === 2 * 28 + 2, `${tag}: 10 reconstructions under their test images (${recon && `${recon.w}x${recon.h}`})`);
  const filters = images.filter((i) => i.id !== "reconstructions");
  check(filters.length === 16 && filters.every((f) => f.w === 3 && f.h === 3), `${tag}: conv2d's 16 filters as 3x3 images (${filters.length})`);
  await page.screenshot({ path: path.join(out, `explore-${tag}-run-hover.png`) });
}

/// The Profile tab of a page written with --profile: a row per kernel of nnc dump --emit=llvm
/// with a time and a bar, conv2d's rows marked, and a layer link that selects its layer.
async function checkProfile(page, tag, llvm) {
  await page.click('#tabs button[data-tab="profile"]');
  const rows = await page.$$eval("#profile-kernels tr.kernel-row", (r) => r.map((e) => ({
    name: e.dataset.kernel, ms: parseFloat(e.cells[0].textContent), bar: e.querySelector(".bar").getBoundingClientRect().width, hl: e.classList.contains("hl") })));
  const defined = [...llvm.matchAll(/^define void @(\S+)\(/gm)].map((m) => m[1]);
  check(rows.length === defined.length && defined.every((k) => rows.some((r) => r.name === k)),
    `${tag}: the profile has a row for each of the ${defined.length} kernels`);
  check(rows.every((r) => r.ms >= 0 && r.bar >= 1) && rows.some((r) => r.ms > 0), `${tag}: each kernel has a time and a bar`);
  check(rows.filter((r) => r.hl).length >= 2, `${tag}: the profile marks conv2d's kernels (${rows.filter((r) => r.hl).length})`);
  await page.click('#profile-kernels a.layer-link[data-layer-name="conv2d_1"]');
  const now = await page.$eval("#graph g.node.selected text", (t) => t.textContent);
  check(now === "conv2d_1 (Conv2D)", `${tag}: a kernel's layer link selects the layer in the graph (${now})`);
  await page.$eval('#graph g.node[data-layer="v0"]', (g) => g.focus());
  await page.keyboard.press("Enter");
  const keyed = await page.$eval("#graph g.node.selected text", (t) => t.textContent);
  check(keyed.endsWith("(InputLayer)"), `${tag}: Enter on a focused graph node selects it (${keyed})`);
  await page.screenshot({ path: path.join(out, `explore-${tag}-profile-conv2d_1.png`) });
}

// A short training run for --run: 2 epochs on the bundled digits (a few seconds).
const runDir = path.join(out, "run");
fs.rmSync(runDir, { recursive: true, force: true });
run("train", "examples/autoencoder.nn", "--epochs", "2", "--data", "mnist", "--optimizer", "adam",
  "--lr", "0.005", "--checkpoint", runDir);

const engines = [{ engine: "chromium", options: { executablePath: chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] } }];
if (fs.existsSync(firefox)) engines.push({ engine: "firefox", options: { browser: "firefox", executablePath: firefox } });
else console.log(`note: no Firefox at ${firefox} (Debian package firefox-esr): Chromium only`);
for (const { engine, options } of engines) {
  const browser = await puppeteer.launch({ headless: true, ...options });
  try {
    await testModel(browser, engine, "autoencoder", ["--run", runDir, "--profile"]);
    await testModel(browser, engine, "autoencoder_transpose", []);
  } finally {
    await browser.close();
  }
}
console.log(failures.length ? `${failures.length} checks failed` : "all checks passed");
process.exit(failures.length ? 1 : 0);
