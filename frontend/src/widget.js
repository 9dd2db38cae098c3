// The notebook widget (anywidget): a token cloud with a time/layer slider, from a Trajectory.
import { CloudView } from "./cloud.js";

function render({ model, el }) {
  const box = document.createElement("div");
  const slider = document.createElement("input");
  slider.type = "range";
  slider.min = 0;
  slider.step = 1;
  slider.style.width = "420px";
  const label = document.createElement("div");
  label.style.font = "12px system-ui, sans-serif";
  el.append(box, slider, label);
  const view = new CloudView(box, { size: 420 });
  const draw = () => {
    const [states, n, k] = model.get("shape");
    const frame = Math.min(model.get("frame"), states - 1);
    const data = new Float32Array(model.get("points").buffer);
    view.setPoints(data.subarray(frame * n * k, (frame + 1) * n * k), n, k);
    slider.max = states - 1;
    slider.value = frame;
    label.textContent = `${model.get("axis")} = ${model.get("times")[frame]}   (${n} tokens)`;
  };
  slider.oninput = () => {
    model.set("frame", Number(slider.value));
    model.save_changes();
  };
  model.on("change:frame", draw);
  model.on("change:points", draw);
  draw();
}

export default { render };
