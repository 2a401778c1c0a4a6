// AA live page: an exported lattice step (ONNX) run by onnxruntime-web (wasm, one thread) in the browser.
// Served by `aa serve` at /live (assets fetched from the service) or inlined whole by `aa export --format html`
// (everything read from the page itself: it runs from file://). Nothing is fetched from anywhere else.
//
// Determinism: the fire masks come from MT19937 seeded with the page's seed, 24-bit floats, one per cell per
// step, in raster order — the stream of torch.manual_seed(seed); torch.rand(1, X, Y, Z, 1) < fire_rate — so a
// run of this page with ?seed=S equals AA's own stochastic roll-out after torch.manual_seed(S).
// window.aaLive is the page's state and controls (the tests drive it).

const CONFIG = JSON.parse(document.getElementById("aa-config").textContent);
const $ = (id) => document.getElementById(id);
const live = (window.aaLive = { ready: false, error: null, step: 0, playing: false, events: [], seed: 0, stop: null });

function fail(message) {
  live.error = String(message);
  $("status").textContent = "error: " + live.error;
  $("status").className = "error";
  console.error(message);
}

// ---- the random stream: MT19937 as torch's CPU generator ------------------------------------------
class MT19937 {
  constructor(seed) {
    this.mt = new Uint32Array(624);
    this.i = 624;
    this.mt[0] = seed >>> 0;
    for (let k = 1; k < 624; k++) {
      const prev = this.mt[k - 1] ^ (this.mt[k - 1] >>> 30);
      this.mt[k] = (Math.imul(1812433253, prev) + k) >>> 0;
    }
  }
  next() {
    const mt = this.mt;
    if (this.i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
        mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.i = 0;
    }
    let y = mt[this.i++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }
  uniform() {  // torch.rand's float32: the low 24 bits / 2^24
    return (this.next() & 0xffffff) / 16777216;
  }
}

// ---- reading the model and the runtime -------------------------------------------------------------
function inlineBytes(id) {
  const text = $(id).textContent.trim();
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) {
    let why = r.statusText;
    try { why = (await r.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(`${url}: ${r.status} ${why}`);
  }
  return new Uint8Array(await r.arrayBuffer());
}
function moduleFromText(bytes) {  // an ES module held in the page (file://): imported from a blob URL
  const url = URL.createObjectURL(new Blob([bytes], { type: "text/javascript" }));
  return import(url);
}
const sources = CONFIG.inline
  ? {
      model: async () => JSON.parse(document.getElementById("aa-model").textContent),
      onnx: async () => inlineBytes("aa-onnx"),
      ort: () => moduleFromText(inlineBytes("aa-ort")),
      wasm: () => gunzip(inlineBytes("aa-wasm")),
      three: () => (document.getElementById("aa-three") ? moduleFromText(inlineBytes("aa-three")) : Promise.resolve(null)),
    }
  : {
      model: async () => JSON.parse(new TextDecoder().decode(await fetchBytes(CONFIG.model))),
      onnx: () => fetchBytes(CONFIG.onnx),
      ort: () => import(CONFIG.assets + "ort.wasm.bundle.min.mjs"),
      wasm: async () => gunzip(await fetchBytes(CONFIG.assets + "ort-wasm-simd-threaded.wasm.gz")),
      three: () => import(CONFIG.assets + "three.min.mjs"),
    };

// ---- the simulation ----------------------------------------------------------------------------------
let ort, session, meta, X, Y, Z, C, N, state, fire, rng, seedState, fireRate;

function params() {
  const q = new URLSearchParams(location.search);
  const num = (k) => (q.has(k) && q.get(k) !== "" && Number.isFinite(Number(q.get(k))) ? Number(q.get(k)) : null);
  return { seed: num("seed"), stop: num("stop"), speed: num("speed"), autoplay: q.get("autoplay") !== "0" };
}

function resetState() {
  state = new Float32Array(seedState);
  rng = new MT19937(live.seed);
  live.step = 0;
  live.events = [];
}

async function step() {
  if (fireRate >= 1) {
    fire.fill(1);
  } else {
    for (let i = 0; i < N; i++) fire[i] = rng.uniform() < fireRate ? 1 : 0;
  }
  const out = await session.run({
    state: new ort.Tensor("float32", state, [1, X, Y, Z, C]),
    fire: new ort.Tensor("float32", fire, [1, X, Y, Z, 1]),
  });
  state = out.next.data;
  live.step += 1;
}

function damage(cx, cy, cz, radius) {  // zero every cell within radius of (cx, cy, cz): aa_nca.pool.ball_mask
  const r2 = radius * radius;
  for (let x = 0; x < X; x++)
    for (let y = 0; y < Y; y++)
      for (let z = 0; z < Z; z++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r2) state.fill(0, ((x * Y + y) * Z + z) * C, ((x * Y + y) * Z + z + 1) * C);
      }
  live.events.push({ step: live.step, centre: [cx, cy, cz], radius });
  draw();
}
live.damage = damage;

// ---- drawing ---------------------------------------------------------------------------------------
const SCALE = 8;
let view, ctx, offscreen, octx, image, tiles, three3d;

function hexToRgb(h) {
  const v = parseInt(h.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

function setupView() {
  view = $("view");
  const d = meta.display;
  if (Z === 1) {
    view.width = X * SCALE;
    view.height = Y * SCALE;
    offscreen = document.createElement("canvas");
    offscreen.width = X;
    offscreen.height = Y;
  } else {  // z-slices side by side
    document.body.classList.add("voxels");
    const cols = Math.min(Z, Math.max(1, Math.floor(520 / ((X + 1) * SCALE))));
    tiles = { cols, rows: Math.ceil(Z / cols) };
    view.width = tiles.cols * (X + 1) * SCALE;
    view.height = tiles.rows * (Y + 1) * SCALE;
    offscreen = document.createElement("canvas");
    offscreen.width = tiles.cols * (X + 1);
    offscreen.height = tiles.rows * (Y + 1);
  }
  octx = offscreen.getContext("2d");
  image = octx.createImageData(offscreen.width, offscreen.height);
  ctx = view.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  if (d.kind === "classes") {
    d.rgb = d.colours.map(hexToRgb);
    const items = d.names.slice(1).map((n, i) => `<span><i style="background:${d.colours[i + 1]}"></i>${n}</span>`);
    if (meta.alive_channel !== null) items.push('<span><i style="background:#c8c8c8"></i>alive, no block yet</span>');
    $("legend").innerHTML = items.join(" ");
  }
}

function clamp01(v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

function cellColour(base, out) {  // out = [r, g, b, a] bytes of the cell whose channels start at base
  const d = meta.display;
  if (d.kind === "rgba") {
    const a = clamp01(state[base + 3]);
    const un = (v) => (a > 0 ? clamp01(state[base + v] / a) : 0);  // the state is premultiplied, ImageData is not
    out[0] = Math.round(un(0) * 255); out[1] = Math.round(un(1) * 255); out[2] = Math.round(un(2) * 255); out[3] = Math.round(a * 255);
  } else if (d.kind === "classes") {
    let best = 0;
    for (let k = 1; k < d.classes; k++) if (state[base + k] > state[base + best]) best = k;
    if (best === 0) {  // air: drawn light grey where the cell is alive (growing, no block yet), else empty
      const alive = meta.alive_channel !== null && state[base + meta.alive_channel] > meta.alive_threshold;
      out[0] = out[1] = out[2] = 200; out[3] = alive ? 255 : 0;
      return;
    }
    const rgb = d.rgb[best];
    out[0] = rgb[0]; out[1] = rgb[1]; out[2] = rgb[2]; out[3] = 255;
  } else {
    const v = Math.round(clamp01(state[base + d.channel]) * 255);
    out[0] = out[1] = out[2] = 255 - v; out[3] = 255;
  }
}

function draw() {
  const px = image.data;
  px.fill(0);
  const rgba = [0, 0, 0, 0];
  const W = offscreen.width;
  for (let x = 0; x < X; x++)
    for (let y = 0; y < Y; y++)
      for (let z = 0; z < Z; z++) {
        cellColour(((x * Y + y) * Z + z) * C, rgba);
        let col = x, row = y;
        if (Z > 1) {  // a slice per z; y up (Minecraft's), so the rows run from y = Y − 1 at the top
          col += (z % tiles.cols) * (X + 1);
          row = Y - 1 - y + Math.floor(z / tiles.cols) * (Y + 1);
        }
        const o = (row * W + col) * 4;
        px[o] = rgba[0]; px[o + 1] = rgba[1]; px[o + 2] = rgba[2]; px[o + 3] = rgba[3];
      }
  octx.putImageData(image, 0, 0);
  ctx.clearRect(0, 0, view.width, view.height);
  ctx.drawImage(offscreen, 0, 0, view.width, view.height);
  if (Z > 1) {
    ctx.strokeStyle = "#ccc";
    for (let z = 0; z < Z; z++) {
      const c = z % tiles.cols, r = Math.floor(z / tiles.cols);
      ctx.strokeRect(c * (X + 1) * SCALE + 0.5, r * (Y + 1) * SCALE + 0.5, X * SCALE, Y * SCALE);
    }
    if (three3d) three3d.update();
  }
  $("step").textContent = live.step;
}

function cellAt(event) {  // the lattice cell under the pointer (null off the lattice)
  const box = view.getBoundingClientRect();
  const px = ((event.clientX - box.left) * view.width) / box.width / SCALE;
  const py = ((event.clientY - box.top) * view.height) / box.height / SCALE;
  if (Z === 1) {
    const x = Math.floor(px), y = Math.floor(py);
    return x >= 0 && x < X && y >= 0 && y < Y ? [x, y, 0] : null;
  }
  const c = Math.floor(px / (X + 1)), r = Math.floor(py / (Y + 1));
  const x = Math.floor(px - c * (X + 1)), y = Y - 1 - Math.floor(py - r * (Y + 1)), z = r * tiles.cols + c;
  return x >= 0 && x < X && y >= 0 && y < Y && z < Z && c < tiles.cols ? [x, y, z] : null;
}

// ---- the rotating voxel view (three.js, bundled; skipped where WebGL is missing) ----------------------
async function setupThree() {
  const THREE = await sources.three();
  if (!THREE) return;
  const canvas = $("view3d");
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
  } catch (e) {
    $("view3d-note").textContent = "no WebGL here: the slices above are the view";
    canvas.style.display = "none";
    return;
  }
  renderer.setSize(420, 420, false);
  renderer.setClearColor(0xffffff);
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(40, 1, 0.1, 1000);
  scene.add(new THREE.AmbientLight(0xffffff, 1.2));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(1, 2, 1.5);
  scene.add(sun);
  const mesh = new THREE.InstancedMesh(new THREE.BoxGeometry(0.95, 0.95, 0.95), new THREE.MeshLambertMaterial(), N);
  scene.add(mesh);
  const m = new THREE.Matrix4(), colour = new THREE.Color(), rgba = [0, 0, 0, 0];
  const radius = 1.25 * Math.max(X, Y, Z);
  let angle = 0;
  three3d = {
    update() {
      let count = 0;
      for (let x = 0; x < X; x++)
        for (let y = 0; y < Y; y++)
          for (let z = 0; z < Z; z++) {
            cellColour(((x * Y + y) * Z + z) * C, rgba);
            if (rgba[3] === 0) continue;
            m.makeTranslation(x - X / 2, y - Y / 2, z - Z / 2);  // Minecraft's y is up
            mesh.setMatrixAt(count, m);
            mesh.setColorAt(count, colour.setRGB(rgba[0] / 255, rgba[1] / 255, rgba[2] / 255, THREE.SRGBColorSpace));
            count++;
          }
      mesh.count = count;
      mesh.instanceMatrix.needsUpdate = true;
      if (mesh.instanceColor) mesh.instanceColor.needsUpdate = true;
    },
    render() {
      angle += 0.01;
      camera.position.set(radius * Math.cos(angle), radius * 0.6, radius * Math.sin(angle));
      camera.lookAt(0, 0, 0);
      renderer.render(scene, camera);
    },
  };
  three3d.update();
}

// ---- the loop --------------------------------------------------------------------------------------
const SPEEDS = [0.25, 0.5, 1, 2, 4, 8, 16, 32];  // steps per frame
let speed = 1, credit = 0, frames = [], stepsLog = [], busy = false, waiters = [], rates = "";

function setPlaying(on) {
  live.playing = on;
  $("play").textContent = on ? "pause" : "play";
}
live.play = () => setPlaying(true);
live.pause = () => setPlaying(false);
live.reset = () => { resetState(); draw(); };
live.runUntil = (n) => new Promise((resolve) => { live.stop = n; waiters.push({ n, resolve }); setPlaying(true); });
live.state = () => Array.from(state);
live.bench = async (n) => {  // steps per second of the step alone (no drawing), then back to where it was
  setPlaying(false);
  while (busy) await new Promise((r) => setTimeout(r, 5));
  const saved = [new Float32Array(state), live.step, rng];
  rng = new MT19937(live.seed + 1);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await step();
  const rate = (n * 1000) / (performance.now() - t0);
  [state, live.step, rng] = saved;
  draw();
  return rate;
};

async function frame(now) {
  while (frames.length && now - frames[0] > 1000) frames.shift();
  if (live.playing && !busy) {
    frames.push(now);  // frames that stepped and drew
    busy = true;
    try {
      credit += speed;
      while (credit >= 1 && live.playing) {
        credit -= 1;
        await step();
        stepsLog.push(performance.now());
        if (live.stop !== null && live.step >= live.stop) {
          setPlaying(false);
          credit = 0;
        }
      }
      draw();
    } catch (e) {
      setPlaying(false);
      fail(e.message || e);
    } finally {
      busy = false;
    }
    for (const w of waiters.filter((w) => live.step >= w.n)) w.resolve(live.step);
    waiters = waiters.filter((w) => live.step < w.n);
  }
  const t = performance.now();
  while (stepsLog.length && t - stepsLog[0] > 1000) stepsLog.shift();
  if (live.playing) {  // while paused, the rates of the last second it ran stay on show
    rates = `${frames.length} frames/s, ${stepsLog.length} steps/s`;
    live.fps = frames.length;
    live.stepsPerSecond = stepsLog.length;
  }
  $("fps").textContent = live.playing ? rates : rates ? `paused (running: ${rates})` : "paused";
  if (three3d) three3d.render();
  requestAnimationFrame(frame);
}

async function main() {
  const p = params();
  $("status").textContent = "loading the model and the runtime…";
  [meta, ort] = await Promise.all([sources.model(), sources.ort()]);
  [X, Y, Z] = meta.shape;
  C = meta.channels;
  N = X * Y * Z;
  fireRate = Math.fround(meta.fire_rate);
  $("name").textContent = meta.name;
  $("source").textContent = meta.source || meta.dataset || "";
  $("params").textContent = meta.params.toLocaleString("en");
  $("shape").textContent = `${X}×${Y}×${Z}, ${C} channels, fire rate ${meta.fire_rate}`;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmBinary = await sources.wasm();
  session = await ort.InferenceSession.create(await sources.onnx(), { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  seedState = new Float32Array(N * C);
  for (const [cell, values] of meta.seed) seedState.set(values, cell * C);
  fire = new Float32Array(N);
  live.seed = p.seed !== null ? p.seed >>> 0 : Math.floor(Math.random() * 2 ** 31);
  live.stop = p.stop;
  $("seed").textContent = live.seed;
  if (p.speed !== null) speed = p.speed;
  const pick = $("speed");
  pick.innerHTML = SPEEDS.map((s) => `<option value="${s}"${s === speed ? " selected" : ""}>${s} step${s === 1 ? "" : "s"}/frame</option>`).join("");
  pick.onchange = () => { speed = Number(pick.value); };
  const brush = $("brush");
  brush.value = Math.max(1, Math.round(meta.damage.radius));
  $("brush-value").textContent = brush.value;
  brush.oninput = () => { $("brush-value").textContent = brush.value; };
  setupView();
  resetState();
  draw();
  if (Z > 1) await setupThree();
  $("play").onclick = () => setPlaying(!live.playing);
  $("reset").onclick = () => live.reset();
  $("damage").onclick = () => damage(...meta.damage.centre, meta.damage.radius);
  let pressed = false;
  const erase = (e) => { const c = cellAt(e); if (c) damage(c[0], c[1], c[2], Number(brush.value)); };
  view.addEventListener("pointerdown", (e) => { pressed = true; erase(e); });
  view.addEventListener("pointermove", (e) => { if (pressed) erase(e); });
  window.addEventListener("pointerup", () => { pressed = false; });
  $("status").textContent = "running in your browser (onnxruntime-web, wasm)";
  live.ready = true;
  setPlaying(p.autoplay && !(live.stop !== null && live.step >= live.stop));
  requestAnimationFrame(frame);
}

main().catch((e) => fail(e && e.message ? e.message : e));
