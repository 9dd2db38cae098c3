// A token cloud drawn with three.js: points on the unit circle (k = 2) or sphere (k = 3), drag to rotate.
import * as THREE from "three";

export class CloudView {
  constructor(container, { size = 520 } = {}) {
    // No multisampling and one pixel per CSS pixel: points stay crisp, and a software rasteriser
    // (headless Chromium, machines without a GPU) keeps up with 10⁴ points.
    this.renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(1);
    this.renderer.setSize(size, size);
    this.renderer.setClearColor(0xfbfaf6);
    container.appendChild(this.renderer.domElement);
    this.canvas = this.renderer.domElement;
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(35, 1, 0.1, 100);
    this.camera.position.set(0, 0, 4.2);
    this.group = new THREE.Group();
    this.scene.add(this.group);
    this.group.rotation.set(0.35, -0.6, 0);
    this.guide = null;
    this.points = null;
    this.count = 0;
    this.dims = 0;
    this.frames = 0;
    this.frameTimes = [];
    this._drag(container);
    const loop = (now) => {
      this.frameTimes.push(now);
      if (this.frameTimes.length > 120) this.frameTimes.shift();
      this.renderer.render(this.scene, this.camera);
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  fps() {
    const t = this.frameTimes;
    return t.length < 2 ? 0 : (1000 * (t.length - 1)) / (t[t.length - 1] - t[0]);
  }

  _drag(el) {
    let last = null;
    el.addEventListener("pointerdown", (e) => (last = [e.clientX, e.clientY]));
    window.addEventListener("pointerup", () => (last = null));
    window.addEventListener("pointermove", (e) => {
      if (!last || this.dims === 2) return;
      this.group.rotation.y += (e.clientX - last[0]) * 0.01;
      this.group.rotation.x += (e.clientY - last[1]) * 0.01;
      last = [e.clientX, e.clientY];
    });
  }

  _setGuide(k) {
    if (this.guide) this.group.remove(this.guide);
    const material = new THREE.LineBasicMaterial({ color: 0xc9c3b4 });
    if (k === 2) {
      const curve = new THREE.EllipseCurve(0, 0, 1, 1, 0, 2 * Math.PI);
      this.guide = new THREE.LineLoop(new THREE.BufferGeometry().setFromPoints(curve.getPoints(128)), material);
      this.group.rotation.set(0, 0, 0);
    } else {
      this.guide = new THREE.LineSegments(new THREE.WireframeGeometry(new THREE.SphereGeometry(1, 18, 12)), material);
      this.guide.material.transparent = true;
      this.guide.material.opacity = 0.45;
    }
    this.group.add(this.guide);
  }

  // points: Float32Array of n·k coordinates (k = 2 or 3), row-major.
  setPoints(points, n, k, colors = null) {
    const fresh = !this.points || this.count !== n || this.dims !== k;
    if (fresh) {
      if (this.points) this.group.remove(this.points);
      if (this.dims !== k) this._setGuide(k);
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute("position", new THREE.BufferAttribute(new Float32Array(3 * n), 3));
      geometry.setAttribute("color", new THREE.BufferAttribute(new Float32Array(3 * n).fill(0.15), 3));
      const size = n > 5000 ? 0.025 : n > 500 ? 0.04 : 0.07;
      this.points = new THREE.Points(geometry, new THREE.PointsMaterial({ size, vertexColors: true }));
      this.group.add(this.points);
      this.count = n;
      this.dims = k;
    }
    const position = this.points.geometry.attributes.position;
    for (let i = 0; i < n; i++) {
      position.array[3 * i] = points[k * i];
      position.array[3 * i + 1] = points[k * i + 1];
      position.array[3 * i + 2] = k === 3 ? points[k * i + 2] : 0;
    }
    position.needsUpdate = true;
    this.frames += 1;
    if (!fresh && !colors) return; // colours follow token order: they change only with the cloud's size
    const color = this.points.geometry.attributes.color;
    for (let i = 0; i < n; i++) {
      // Colour by token position in the sequence (viridis-like ramp): causal dynamics become readable.
      const s = colors ? colors[i] : i / Math.max(n - 1, 1);
      color.array[3 * i] = 0.27 + 0.7 * s * s;
      color.array[3 * i + 1] = 0.0 + 0.85 * s;
      color.array[3 * i + 2] = 0.33 + 0.3 * (1 - s);
    }
    color.needsUpdate = true;
  }
}

export function decodePoints(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}
