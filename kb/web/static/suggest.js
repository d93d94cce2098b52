// Type-ahead for the search box: names and aliases that start with what was typed, from the
// API's /suggest. The suggestions are plain links right after the box, so Tab (or the Down
// arrow) reaches them and Enter opens the term; Escape closes the list.
"use strict";
(function () {
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var status = document.getElementById("suggest-status");
  if (!input || !list) return;
  var endpoint = input.dataset.suggest;
  var latest = 0;
  var timer = null;

  function close() {
    list.hidden = true;
    list.replaceChildren();
  }

  function show(items) {
    list.replaceChildren();
    items.forEach(function (item) {
      var link = document.createElement("a");
      link.href = "/terms/" + encodeURIComponent(item.slug);
      link.textContent = item.label;
      if (item.label !== item.name) {
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = " (" + item.name + ")";
        link.appendChild(name);
      }
      var entry = document.createElement("li");
      entry.appendChild(link);
      list.appendChild(entry);
    });
    list.hidden = items.length === 0;
    status.textContent = items.length
      ? items.length + (items.length === 1 ? " suggestion" : " suggestions") + ", press Tab to reach them"
      : "";
  }

  function ask() {
    var text = input.value.trim();
    if (!text) {
      close();
      status.textContent = "";
      return;
    }
    var ticket = ++latest;
    fetch(endpoint + "?" + new URLSearchParams({ q: text.slice(0, 100) }), {
      headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : { items: [] }; })
      .then(function (body) {
        // Answers can overtake each other: only the one for the newest text is shown.
        if (ticket === latest) show(body.items);
      })
      .catch(function () { if (ticket === latest) close(); });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 80);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown" && !list.hidden) {
      event.preventDefault();
      list.querySelector("a").focus();
    } else if (event.key === "Escape") {
      close();
    }
  });
  list.addEventListener("keydown", function (event) {
    var links = Array.prototype.slice.call(list.querySelectorAll("a"));
    var at = links.indexOf(document.activeElement);
    if (event.key === "ArrowDown" && at < links.length - 1) {
      event.preventDefault();
      links[at + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (at > 0 ? links[at - 1] : input).focus();
    } else if (event.key === "Escape") {
      close();
      input.focus();
    }
  });
  document.addEventListener("click", function (event) {
    if (!input.form.contains(event.target)) close();
  });
})();
