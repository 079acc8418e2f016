// The widget manager (embed-amd.js, vendored from npm) loads its fonts from the folder of its AMD module, which
// RequireJS places next to the page: point it at its folder in _static/vendor, whatever folder the page is in.
(function () {
  const loader = document.querySelector('script[src*="vendor/requirejs/require.js"]');
  if (loader && window.require) {
    const dist = new URL("../jupyter-widgets-html-manager/dist", loader.src).href;
    window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": dist } });
  }
})();
