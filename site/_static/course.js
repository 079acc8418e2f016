// Draw the course map (a <pre class="mermaid"> block) with the vendored mermaid, loaded on the pages that have one.
document.addEventListener("DOMContentLoaded", () => {
  if (window.mermaid && document.querySelector("pre.mermaid")) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    window.mermaid.run({ querySelector: "pre.mermaid" });
  }
});
