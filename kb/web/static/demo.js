// The demo panel: turns the generated form into the JSON the API takes, runs the demo
// (POST .../demo) and shows the run's metrics as a table and its SVG plot as an image.
"use strict";
(function () {
  var form = document.getElementById("demo-form");
  if (!form) return;
  var button = document.getElementById("demo-run");
  var status = document.getElementById("demo-status");
  var result = document.getElementById("demo-result");

  function number(text) {
    var value = Number(text);
    // Anything that is not a number goes as typed: the API's 422 then names the parameter.
    return text.trim() !== "" && isFinite(value) ? value : text.trim();
  }

  function numbers(text) {
    return text.split(",").map(function (part) { return part.trim(); })
      .filter(function (part) { return part !== ""; }).map(number);
  }

  // Each control says (data-kind) how its value is written in JSON; an empty box leaves the
  // parameter out, so the demo uses its default.
  function parameters() {
    var params = {};
    form.querySelectorAll("[data-param]").forEach(function (control) {
      var name = control.dataset.param;
      var kind = control.dataset.kind;
      if (kind === "choices") {
        params[name] = Array.prototype.map.call(
          control.querySelectorAll("input:checked"), function (box) { return box.value; });
      } else if (kind === "checkbox") {
        params[name] = control.checked;
      } else if (control.value.trim() === "") {
        return;
      } else if (kind === "select") {
        params[name] = control.value;
      } else if (kind === "list") {
        params[name] = numbers(control.value);
      } else if (kind === "matrix") {
        params[name] = control.value.split(/[\n;]/)
          .filter(function (row) { return row.trim() !== ""; }).map(numbers);
      } else {
        params[name] = number(control.value);
      }
    });
    return params;
  }

  function problem(body) {
    if (Array.isArray(body.detail)) {
      return body.detail.map(function (error) {
        return error.loc.slice(1).join(".") + ": " + error.msg;
      }).join("; ");
    }
    return body.detail || "the demo could not run";
  }

  function format(value) {
    if (value === null) return "not a number (diverged)";
    if (Number.isInteger(value)) return String(value);
    return Math.abs(value) >= 1e-3 && Math.abs(value) < 1e6 ? value.toPrecision(5) : value.toExponential(4);
  }

  function show(run) {
    var heading = document.createElement("h3");
    heading.textContent = "Result";
    var table = document.createElement("table");
    table.className = "metrics";
    var caption = table.createCaption();
    caption.textContent = "Metrics of the run with seed " + run.seed + " (" +
      (run.cached ? "cached" : run.elapsed_ms.toFixed(0) + " ms") + ")";
    var head = table.createTHead().insertRow();
    ["metric", "value"].forEach(function (label) {
      var cell = document.createElement("th");
      cell.scope = "col";
      cell.textContent = label;
      head.appendChild(cell);
    });
    var rows = table.createTBody();
    Object.keys(run.metrics).forEach(function (name) {
      var row = rows.insertRow();
      var label = document.createElement("th");
      label.scope = "row";
      label.textContent = name;
      row.appendChild(label);
      row.insertCell().textContent = format(run.metrics[name]);
    });
    var figure = document.createElement("figure");
    var plot = document.createElement("img");
    plot.className = "plot";
    plot.alt = "Plot of the " + form.dataset.title + " run with seed " + run.seed +
      "; its numbers are in the table above.";
    plot.addEventListener("load", function () { status.textContent = "Done: the plot is below the metrics."; });
    plot.addEventListener("error", function () { status.textContent = "The run worked but its plot could not be drawn."; });
    plot.src = run.plot;
    var note = document.createElement("figcaption");
    note.textContent = "Plot of this run (SVG). Code: " + run.reference.join(", ");
    figure.append(plot, note);
    result.replaceChildren(heading, table, figure);
    result.hidden = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    status.className = "status";
    status.textContent = "Running…";
    fetch(form.dataset.run, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(parameters()),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(problem(body));
          status.textContent = "Drawing the plot…";
          show(body);
        });
      })
      .catch(function (error) {
        status.className = "status error";
        status.textContent = "Not run: " + error.message;
      })
      .finally(function () { button.disabled = false; });
  });
})();
