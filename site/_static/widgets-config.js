// The widget manager (embed-amd.js, vendored from npm) defines several AMD modules (@jupyter-widgets/html-manager,
// controls, base, ...), and each loads its fonts from the folder that RequireJS gives its module. By default that
// folder is next to the page (notebooks/@jupyter-widgets/), where no font is: the browser then asks for six missing
// files, or not, depending on which stylesheet wins the race. Point every @jupyter-widgets module at the vendored
// dist folder, whatever folder the page is in.
(function () {
  const loader = document.querySelector('script[src*="vendor/requirejs/require.js"]');
  if (loader && window.require) {
    const dist = new URL("../jupyter-widgets-html-manager/dist", loader.src).href;
    window.require.config({ paths: { "@jupyter-widgets": dist, "@jupyter-widgets/html-manager/dist": dist } });
  }
})();
