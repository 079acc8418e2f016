// Draw the course map (a <pre class="mermaid"> block) with the vendored mermaid, loaded on the pages that have one.
document.addEventListener("DOMContentLoaded", () => {
  if (window.mermaid && document.querySelector("pre.mermaid")) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    window.mermaid.run({ querySelector: "pre.mermaid" });
  }
  // Figures that a recorded widget draws (the widget manager renders them after the page loads) get alt text.
  const describe = () => document.querySelectorAll(".jupyter-widgets img:not([alt])").forEach((img) => {
    img.alt = "Figure drawn by the interactive widget above, as recorded with the notebook's outputs";
  });
  new MutationObserver(describe).observe(document.body, { childList: true, subtree: true });
  describe();
});
