// Render every Mermaid diagram of the page into the page itself (not a shadow root), so the
// browser test can see each SVG, and a diagram that fails to parse shows Mermaid's error text.
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
window.addEventListener("DOMContentLoaded", () => {
  mermaid.run({ querySelector: ".diagram-mermaid" }).catch((error) => {
    document.body.setAttribute("data-diagram-error", String(error));
  });
});
