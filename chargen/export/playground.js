// chargen's exported page: a trained character model generating in the browser, with no network.
//
// The page embeds the model's record (a JSON script element, #chargen-model), its weights (base64 of
// little-endian fp16 or fp32 arrays, #chargen-weights) and the matrix-vector kernel (KERNEL, WebAssembly
// from chargen/export/kernel.py). The step follows PyTorch's gate conventions exactly as
// chargen/model/equations.py writes them out:
//   LSTM  i, f, g, o = the four blocks of W_ih x + b_ih + W_hh h + b_hh;  c = σ(f) c + σ(i) tanh(g);  h = σ(o) tanh(c)
//   GRU   r, z from σ(W_i· x + b_i· + W_h· h + b_h·);  n = tanh(W_in x + b_in + r (W_hn h + b_hn));  h = (1 - z) n + z h
//   RNN   h = tanh or relu(W_ih x + b_ih + W_hh h + b_hh)
// Generation runs on the main thread in slices of SLICE_MS, so the page answers between them.
"use strict";

const SLICE_MS = 12;  // work between two chances for the page to answer a click or a key
const FRAME_MS = 50;  // new text reaches the screen this often (the first at once)
const SURPRISE_TOP_BITS = 8;  // as chargen heatmap: white at 0 bits, full red at 8 bits and beyond

// -- reading what the page holds -----------------------------------------------------------------

function bytesOf(base64) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(base64);
  const s = atob(base64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function halfToFloat(bits) {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    table[h] = exp === 0 ? sign * frac * 2 ** -24
      : exp === 31 ? (frac ? NaN : sign * Infinity)
      : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

function readTensors(meta, bytes) {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const all = meta.precision === "fp16" ? halfToFloat(new Uint16Array(buffer)) : new Float32Array(buffer);
  const tensors = {};
  for (const [name, shape, offset] of meta.tensors) {
    tensors[name] = { shape, data: all.subarray(offset, offset + shape.reduce((a, b) => a * b, 1)) };
  }
  return tensors;
}

// -- the model -------------------------------------------------------------------------------------

// Weights live in one linear memory, each matrix in panels of PANEL rows (see kernel.py), so the
// WebAssembly kernel and the plain JavaScript one (where WebAssembly SIMD is missing) read the same layout.
class Model {
  constructor(meta, tensors, kernelBytes, useKernel) {
    const c = meta.config;
    this.cell = c.cell; this.L = c.layers; this.H = c.hidden_size; this.V = c.vocab_size;
    this.G = { lstm: 4, gru: 3 }[c.cell] || 1;
    const H = this.H, GH = this.G * H, V = this.V, P = meta.panel;
    this.P = P;
    const pad = (n) => Math.ceil(n / P) * P;
    const w = (name) => tensors[name].data;
    // The first layer's input part is a lookup table: row v = W_ih0 (input of character v) + b_ih0 (+ b_hh0).
    const together = this.cell !== "gru";  // a GRU keeps b_hn inside r * (W_hn h + b_hn)
    const E = c.embed_dim, Wih0 = w("rnn.weight_ih_l0"), K0 = E || V;
    this.table = new Float32Array(V * GH);
    for (let v = 0; v < V; v++) {
      for (let j = 0; j < GH; j++) {
        let s = w("rnn.bias_ih_l0")[j] + (together ? w("rnn.bias_hh_l0")[j] : 0);
        if (E) { const e = w("embed.weight"); for (let k = 0; k < E; k++) s += Wih0[j * K0 + k] * e[v * E + k]; }
        else s += Wih0[j * K0 + v];
        this.table[v * GH + j] = s;
      }
    }
    // Matrices, each (rows, K) row-major from torch, with their biases.
    const mats = [];
    for (let l = 0; l < this.L; l++) {
      const hh = { rows: w(`rnn.weight_hh_l${l}`), K: H, n: GH };
      if (l === 0) { mats.push({ hh, bias: together ? null : w("rnn.bias_hh_l0") }); continue; }
      const ih = { rows: w(`rnn.weight_ih_l${l}`), K: H, n: GH };
      if (together) {  // [x, h] against [W_ih | W_hh]: one product
        const cat = new Float32Array(GH * 2 * H);
        for (let j = 0; j < GH; j++) {
          cat.set(ih.rows.subarray(j * H, (j + 1) * H), j * 2 * H);
          cat.set(hh.rows.subarray(j * H, (j + 1) * H), j * 2 * H + H);
        }
        const b = new Float32Array(GH);
        for (let j = 0; j < GH; j++) b[j] = w(`rnn.bias_ih_l${l}`)[j] + w(`rnn.bias_hh_l${l}`)[j];
        mats.push({ cat: { rows: cat, K: 2 * H, n: GH }, bias: b });
      } else {
        mats.push({ ih, hh, ihBias: w(`rnn.bias_ih_l${l}`), bias: w(`rnn.bias_hh_l${l}`) });
      }
    }
    const head = { rows: w("head.weight"), K: H, n: V };
    // Lay everything out in one memory: matrices in panels, then the vectors.
    let floats = 0;
    const place = (m) => { m.at = floats; m.panels = pad(m.n) / P; floats += pad(m.n) * m.K; };
    for (const m of mats) for (const key of ["hh", "ih", "cat"]) if (m[key]) place(m[key]);
    place(head);
    const vec = (n) => { const at = floats; floats += pad(n); return at; };
    const xAt = vec(2 * H), gAt = vec(GH), ghAt = vec(GH), logitsAt = vec(V);
    const pages = Math.ceil(floats * 4 / 65536) + 1;
    this.memory = new WebAssembly.Memory({ initial: pages });
    const F = new Float32Array(this.memory.buffer);
    this.F = F;
    const layOut = (m) => {
      for (let j = 0; j < m.n; j++) {
        const p = Math.floor(j / P), r = j % P, row = m.rows.subarray(j * m.K, (j + 1) * m.K);
        for (let k = 0; k < m.K; k++) F[m.at + (p * m.K + k) * P + r] = row[k];
      }
    };
    for (const m of mats) for (const key of ["hh", "ih", "cat"]) if (m[key]) layOut(m[key]);
    layOut(head);
    this.mats = mats; this.head = head; this.headBias = w("head.bias");
    this.xAt = xAt; this.x = F.subarray(xAt, xAt + 2 * H);
    this.gAt = gAt; this.gates = F.subarray(gAt, gAt + GH);
    this.ghAt = ghAt; this.gh = F.subarray(ghAt, ghAt + GH);
    this.logitsAt = logitsAt; this.logits = F.subarray(logitsAt, logitsAt + V);
    this.kernel = null;
    if (useKernel && kernelBytes && typeof WebAssembly === "object" && WebAssembly.validate(kernelBytes)) {
      const instance = new WebAssembly.Instance(new WebAssembly.Module(kernelBytes), { env: { memory: this.memory } });
      this.kernel = instance.exports.matvec;
    }
    this.reset();
  }

  reset() {
    this.h = Array.from({ length: this.L }, () => new Float32Array(this.H));
    this.c = this.cell === "lstm" ? Array.from({ length: this.L }, () => new Float32Array(this.H)) : null;
  }

  // out = m @ (the vector at xAt), rows padded to panels
  product(m, outAt) {
    if (this.kernel) { this.kernel(m.at * 4, this.xAt * 4, m.K, m.panels, outAt * 4); return; }
    const F = this.F, P = this.P, K = m.K, acc = new Float32Array(P);
    for (let p = 0; p < m.panels; p++) {
      acc.fill(0);
      let at = m.at + p * K * P;
      for (let k = 0; k < K; k++, at += P) {
        const xv = F[this.xAt + k];
        for (let r = 0; r < P; r++) acc[r] += F[at + r] * xv;
      }
      F.set(acc, outAt + p * P);
    }
  }

  // Consume character id; the next character's logits are then in this.logits.
  step(id) {
    const H = this.H, GH = this.G * H, g = this.gates, gh = this.gh, table = this.table;
    let below = null;
    for (let l = 0; l < this.L; l++) {
      const m = this.mats[l], h = this.h[l];
      if (l === 0) {
        this.x.set(h, 0);
        this.product(m.hh, this.cell === "gru" ? this.ghAt : this.gAt);
        const t = id * GH;
        if (this.cell === "gru") { for (let j = 0; j < GH; j++) { g[j] = table[t + j]; gh[j] += m.bias[j]; } }
        else for (let j = 0; j < GH; j++) g[j] += table[t + j];
      } else if (m.cat) {
        this.x.set(below, 0); this.x.set(h, H);
        this.product(m.cat, this.gAt);
        for (let j = 0; j < GH; j++) g[j] += m.bias[j];
      } else {  // GRU: the input and recurrent products apart
        this.x.set(below, 0); this.product(m.ih, this.gAt);
        this.x.set(h, 0); this.product(m.hh, this.ghAt);
        for (let j = 0; j < GH; j++) { g[j] += m.ihBias[j]; gh[j] += m.bias[j]; }
      }
      this.cellUpdate(l, g, gh);
      below = h;
    }
    this.x.set(below, 0);
    this.product(this.head, this.logitsAt);
    const logits = this.logits, b = this.headBias;
    for (let v = 0; v < this.V; v++) logits[v] += b[v];
    return logits;
  }

  cellUpdate(l, g, gh) {
    const H = this.H, h = this.h[l], sig = (v) => 1 / (1 + Math.exp(-v));
    if (this.cell === "lstm") {
      const c = this.c[l];
      for (let j = 0; j < H; j++) {
        const i = sig(g[j]), f = sig(g[H + j]), gg = Math.tanh(g[2 * H + j]), o = sig(g[3 * H + j]);
        c[j] = f * c[j] + i * gg;
        h[j] = o * Math.tanh(c[j]);
      }
    } else if (this.cell === "gru") {
      for (let j = 0; j < H; j++) {
        const r = sig(g[j] + gh[j]), z = sig(g[H + j] + gh[H + j]);
        const n = Math.tanh(g[2 * H + j] + r * gh[2 * H + j]);
        h[j] = (1 - z) * n + z * h[j];
      }
    } else if (this.cell === "rnn-tanh") {
      for (let j = 0; j < H; j++) h[j] = Math.tanh(g[j]);
    } else {
      for (let j = 0; j < H; j++) h[j] = Math.max(g[j], 0);
    }
  }
}

// -- sampling --------------------------------------------------------------------------------------

// xoshiro128**, seeded through splitmix32: the same seed gives the same text in any browser.
function generator(seed) {
  let s = seed >>> 0;
  const split = () => { s = (s + 0x9e3779b9) >>> 0; let z = s; z = Math.imul(z ^ (z >>> 16), 0x85ebca6b); z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35); return (z ^ (z >>> 16)) >>> 0; };
  let a = split(), b = split(), c = split(), d = split();
  return () => {
    const out = Math.imul(((Math.imul(b, 5) << 7) | (Math.imul(b, 5) >>> 25)), 9) >>> 0;
    const t = b << 9;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = (d << 11) | (d >>> 21);
    return out / 4294967296;
  };
}

// The probabilities at temperature 1 (for colouring) and the id drawn under the settings.
function draw(logits, settings, random) {
  const V = logits.length;
  let top = -Infinity, best = 0;
  for (let v = 0; v < V; v++) if (logits[v] > top) { top = logits[v]; best = v; }
  const p = new Float64Array(V);
  let total = 0;
  for (let v = 0; v < V; v++) total += (p[v] = Math.exp(logits[v] - top));
  for (let v = 0; v < V; v++) p[v] /= total;
  if (settings.temperature === 0) return { id: best, p };
  const q = new Float64Array(V);
  for (let v = 0; v < V; v++) q[v] = (logits[v] - top) / settings.temperature;
  if (settings.topK && settings.topK < V) {
    const kth = Array.from(q).sort((x, y) => y - x)[settings.topK - 1];
    for (let v = 0; v < V; v++) if (q[v] < kth) q[v] = -Infinity;
  }
  let sum = 0;
  for (let v = 0; v < V; v++) sum += (q[v] = Math.exp(q[v]));
  for (let v = 0; v < V; v++) q[v] /= sum;
  if (settings.topP && settings.topP < 1) {  // keep the likeliest characters until their mass reaches top-p
    const order = Array.from(q.keys()).sort((x, y) => q[y] - q[x]);
    let before = 0, kept = 0;
    for (const v of order) { if (before >= settings.topP) q[v] = 0; else { before += q[v]; kept += q[v]; } }
    for (let v = 0; v < V; v++) q[v] /= kept;
  }
  const u = random();
  let cumulative = 0;
  for (let v = 0; v < V; v++) { cumulative += q[v]; if (u < cumulative) return { id: v, p }; }
  for (let v = V - 1; v >= 0; v--) if (q[v] > 0) return { id: v, p };
  return { id: best, p };
}

// A model with its context: what it has read so far, and the logits for what comes next.
class Writer {
  constructor(model, vocab, startChar) {
    this.model = model; this.vocab = vocab; this.startChar = startChar;
    this.index = new Map(vocab.map((ch, i) => [ch, i]));
    this.reset();
  }
  reset() { this.model.reset(); this.logits = null; }
  unknown(text) { return [...new Set(Array.from(text).filter((ch) => !this.index.has(ch)))]; }
  feed(text) { for (const ch of text) this.logits = Float32Array.from(this.model.step(this.index.get(ch))); }
  // One character: {ch, p (its probability at temperature 1), logits (what it was drawn from)}.
  next(settings, random) {
    if (this.logits === null) this.feed(this.startChar);
    const logits = this.logits, { id, p } = draw(logits, settings, random);
    this.logits = Float32Array.from(this.model.step(id));
    return { ch: this.vocab[id], p: p[id], logits };
  }
}

// -- the page --------------------------------------------------------------------------------------

// Surprise in LEVELS steps, each a class: a class per character is far cheaper for the browser than an
// inline style it must parse.
const LEVELS = 16;
function heat(level) {  // chargen.views.page.heat at level / (LEVELS - 1) of SURPRISE_TOP_BITS
  const x = level / (LEVELS - 1);
  return `rgb(255,${Math.round(255 - 190 * x)},${Math.round(255 - 215 * x)})`;
}
function surpriseLevel(p) {
  const bits = -Math.log2(Math.max(p, 1e-12));
  return Math.round(Math.min(1, bits / SURPRISE_TOP_BITS) * (LEVELS - 1));
}

const $ = (id) => document.getElementById(id);

function settingsFromForm() {
  const number = (id) => { const v = $(id).value.trim(); return v === "" ? null : Number(v); };
  return { temperature: number("temperature") ?? 0.8, topK: number("top-k"), topP: number("top-p"),
           length: number("length") ?? 500, seed: number("seed") };
}

function start() {
  const meta = JSON.parse($("chargen-model").textContent);
  const t0 = performance.now();
  const tensors = readTensors(meta, bytesOf($("chargen-weights").textContent.trim()));
  const useKernel = !/[?&]kernel=js\b/.test(location.search);
  const model = new Model(meta, tensors, bytesOf(KERNEL), useKernel);
  const writer = new Writer(model, meta.vocab, meta.start_char);
  const loadMs = performance.now() - t0;
  const out = $("output"), status = $("status");
  let job = 0, stopped = false;  // the running generation's number (a new one ends the old); Stop pressed
  let random = generator((Math.random() * 2 ** 32) >>> 0);
  const channel = new MessageChannel();
  let resume = null;
  channel.port1.onmessage = () => { const r = resume; resume = null; if (r) r(); };
  const yieldToPage = () => new Promise((r) => { resume = r; channel.port2.postMessage(0); });

  const levels = document.createElement("style");
  levels.textContent = Array.from({ length: LEVELS }, (_, i) => `.s${i} { background: ${heat(i)}; }`).join("\n");
  document.head.appendChild(levels);
  // The output is a block per line, each character a span in it (drawing costs the same as one block of
  // all the text, bench.export measured; a tooltip finds its character by the line's start and the span's place).
  let shown = [], line = null;  // what each character shown is: {ch, p}, for its tooltip; the open line
  function clear() { out.textContent = ""; shown = []; line = null; }
  function show(chars) {
    const lines = document.createDocumentFragment();
    for (const c of chars) {
      if (line === null) {
        line = document.createElement("div");
        line.start = shown.length;
        lines.appendChild(line);
      }
      const span = document.createElement("span");
      span.textContent = c.ch === "\n" ? "⏎\n" : c.ch;
      span.className = `s${surpriseLevel(c.p)}`;
      line.appendChild(span);
      shown.push(c);
      if (c.ch === "\n") line = null;
    }
    out.appendChild(lines);
  }
  // Tooltips are made when the pointer reaches a character, not for every character drawn.
  out.addEventListener("mouseover", (e) => {
    const span = e.target, row = span.parentNode;
    if (span.tagName !== "SPAN" || row.parentNode !== out || span.title) return;
    const c = shown[row.start + Array.prototype.indexOf.call(row.children, span)];
    if (c) span.title = `${JSON.stringify(c.ch)}  p = ${c.p.toFixed(3)}`;
  });

  function check(settings, prime) {
    const bad = (msg) => { status.textContent = msg; return false; };
    if (!(settings.temperature >= 0)) return bad("temperature must be 0 or more");
    if (settings.topK !== null && !(Number.isInteger(settings.topK) && settings.topK >= 1)) return bad("top-k must be a whole number of 1 or more");
    if (settings.topP !== null && !(settings.topP > 0 && settings.topP <= 1)) return bad("top-p must be in (0, 1]");
    if (!(Number.isInteger(settings.length) && settings.length >= 1)) return bad("length must be a whole number of 1 or more");
    const missing = writer.unknown(prime);
    if (missing.length) return bad(`the prime has characters the model never saw: ${missing.map((c) => JSON.stringify(c)).join(" ")}`);
    return true;
  }

  // Write `length` characters (or, for `items`, whole items), a slice at a time; resolves to the text.
  async function generate({ prime = "", fresh = true, items = 0, ...settings }) {
    if (!check(settings, prime)) return null;
    const mine = ++job;
    stopped = false;
    status.dataset.busy = "yes";
    if (settings.seed !== null && settings.seed !== undefined) random = generator(settings.seed);
    if (fresh) { writer.reset(); clear(); }
    const given = Array.from(prime, (ch) => ({ ch, p: 1 }));  // the prime, shown as certain
    if (items) { writer.reset(); writer.feed(meta.start_char + prime); }  // every item from the start state
    else if (prime) writer.feed(prime);
    let pending = [...given], written = "", count = 0, itemsDone = 0, itemLength = 0, shownAt = -Infinity;
    const began = performance.now(), finished = () => (items ? itemsDone >= items : count >= settings.length);
    while (mine === job && !stopped) {
      const until = performance.now() + SLICE_MS;
      while (!finished() && performance.now() < until) {
        const c = writer.next(settings, random);
        pending.push(c); written += c.ch; count++; itemLength++;
        if (items && (c.ch === meta.start_char || itemLength >= settings.length)) {  // an item ends
          if (c.ch !== meta.start_char) { pending.push({ ch: "\n", p: 1 }); written += "\n"; }
          itemsDone++; itemLength = 0;
          if (finished()) break;
          writer.reset(); writer.feed(meta.start_char + prime);
          pending.push(...given); written += prime;
        }
      }
      // The page is drawn again at most every FRAME_MS: drawing is what costs most without a GPU.
      const now = performance.now();
      if (finished() || now - shownAt >= FRAME_MS) {
        show(pending); pending = []; shownAt = now;
        const seconds = (now - began) / 1000;
        status.textContent = `${count.toLocaleString()} characters, ${Math.round(count / Math.max(seconds, 1e-3)).toLocaleString()}/s`;
      }
      if (finished()) break;
      await yieldToPage();
    }
    if (mine === job) {
      if (stopped) { show(pending); status.textContent = `stopped after ${count.toLocaleString()} characters`; }
      job++;
      delete status.dataset.busy;
    }
    return items ? prime + written : written;
  }

  const run = (extra) => () => generate({ ...settingsFromForm(), prime: $("prime").value, ...extra });
  $("generate").onclick = run({ fresh: true });
  $("continue").onclick = run({ fresh: false, prime: "" });
  $("stop").onclick = () => { stopped = true; };
  if ($("generate-items")) $("generate-items").onclick = () => run({ fresh: true, items: Math.max(1, Math.floor(Number($("items").value))) || 10 })();
  status.textContent = `ready (${model.kernel ? "WebAssembly SIMD" : "JavaScript"} step; loaded in ${Math.round(loadMs)} ms)`;

  // For scripts and tests: the same generator the buttons use, and raw greedy logits.
  window.chargen = {
    meta, loadMs, kernel: model.kernel ? "wasm-simd" : "js", generate,
    greedy(prime, length) {  // [{ch, logits}] for `length` characters at temperature 0 after `prime`
      writer.reset(); if (prime) writer.feed(prime);
      const steps = [];
      for (let i = 0; i < length; i++) { const c = writer.next({ temperature: 0 }, random); steps.push({ ch: c.ch, logits: Array.from(c.logits) }); }
      return steps;
    },
    logits(text) {  // the logits after each character of `text`, from the start state
      writer.reset();
      return Array.from(text, (ch) => { writer.feed(ch); return Array.from(writer.logits); });
    },
  };
  document.body.dataset.ready = "yes";
}

try { start(); } catch (e) { document.getElementById("status").textContent = `could not load the model: ${e}`; throw e; }
