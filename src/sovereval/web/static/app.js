// sovereval front-end: draws the charts described in data-chart attributes with the bundled
// Plotly. No inline scripts anywhere (CSP script-src 'self'); pages stay readable without JS.
(function () {
  "use strict";

  function draw(el) {
    if (!window.Plotly || el.dataset.drawn) return;
    var spec;
    try {
      spec = JSON.parse(el.getAttribute("data-chart"));
    } catch (e) {
      el.textContent = "Chart data could not be read.";
      return;
    }
    var layout = Object.assign(
      { autosize: true, font: { family: "system-ui, sans-serif", size: 12 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)" },
      spec.layout || {}
    );
    window.Plotly.newPlot(el, spec.data || [], layout, { displayModeBar: false, responsive: true });
    el.dataset.drawn = "1";
  }

  function drawAll(root) {
    var charts = (root || document).querySelectorAll(".chart[data-chart]");
    for (var i = 0; i < charts.length; i++) draw(charts[i]);
  }

  // Irreversible actions ask first: a form with data-confirm submits only after a yes.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) ev.preventDefault();
  }, true);

  // The result form posts to the chosen submission's address.
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el && el.id === "result-submission" && el.form) {
      el.form.action = "/admin/submissions/" + encodeURIComponent(el.value) + "/results";
    }
    if (el && el.id === "provenance-submission" && el.form) {
      el.form.action = "/admin/submissions/" + encodeURIComponent(el.value) + "/provenance-request";
    }
  });

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { drawAll(ev.target); });
})();
