// facelab serve: keyboard actions on the suggestion queue, and drawing a face box on a
// photo. Served as a file (the Content-Security-Policy allows no inline script).
"use strict";

function queue() {
  const items = Array.from(document.querySelectorAll(".suggestion"));
  if (items.length === 0) return;
  items[0].focus();
  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement) return;
    const current = document.activeElement && document.activeElement.closest(".suggestion");
    const i = current ? items.indexOf(current) : -1;
    const move = (d) => {
      const next = items[Math.min(items.length - 1, Math.max(0, i + d))];
      if (next) next.focus();
      e.preventDefault();
    };
    if (e.key === "ArrowDown" || e.key === "ArrowRight" || e.key === "j") move(1);
    else if (e.key === "ArrowUp" || e.key === "ArrowLeft" || e.key === "k") move(-1);
    else if ((e.key === "y" || e.key === "n") && current) {
      const b = current.querySelector(e.key === "y" ? "button.confirm" : "button.reject");
      if (b) { e.preventDefault(); b.click(); }
    }
  });
}

function drawing() {
  const svg = document.getElementById("boxes");
  const drawn = document.getElementById("drawn");
  if (!svg || !drawn) return;
  const w = Number(svg.dataset.width), h = Number(svg.dataset.height);
  const field = (id) => document.getElementById(id);
  const at = (e) => {
    const r = svg.getBoundingClientRect();
    const x = Math.min(w, Math.max(0, (e.clientX - r.left) / r.width * w));
    const y = Math.min(h, Math.max(0, (e.clientY - r.top) / r.height * h));
    return [x, y];
  };
  let start = null;
  const show = (a, b) => {
    const x = Math.round(Math.min(a[0], b[0])), y = Math.round(Math.min(a[1], b[1]));
    const bw = Math.round(Math.abs(a[0] - b[0])), bh = Math.round(Math.abs(a[1] - b[1]));
    drawn.setAttribute("x", x); drawn.setAttribute("y", y);
    drawn.setAttribute("width", bw); drawn.setAttribute("height", bh);
    field("draw-x").value = x; field("draw-y").value = y;
    field("draw-w").value = bw; field("draw-h").value = bh;
  };
  svg.addEventListener("pointerdown", (e) => { start = at(e); svg.setPointerCapture(e.pointerId); e.preventDefault(); });
  svg.addEventListener("pointermove", (e) => { if (start) show(start, at(e)); });
  svg.addEventListener("pointerup", (e) => {
    if (!start) return;
    show(start, at(e));
    start = null;
    field("draw-name").focus();
  });
  // The box as typed in the fields, drawn too.
  for (const id of ["draw-x", "draw-y", "draw-w", "draw-h"]) {
    field(id).addEventListener("input", () => {
      drawn.setAttribute("x", field("draw-x").value || 0);
      drawn.setAttribute("y", field("draw-y").value || 0);
      drawn.setAttribute("width", field("draw-w").value || 0);
      drawn.setAttribute("height", field("draw-h").value || 0);
    });
  }
}

document.addEventListener("DOMContentLoaded", () => { queue(); drawing(); });
