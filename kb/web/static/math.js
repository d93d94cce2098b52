// Typesets the formulas of a term body: the server writes each one as escaped TeX in an element
// of class "math" ("math-display" for display style), and KaTeX (vendored, same origin) renders it.
"use strict";
document.querySelectorAll(".math").forEach(function (element) {
  var tex = element.textContent;
  katex.render(tex, element, {
    displayMode: element.classList.contains("math-display"),
    throwOnError: false,
  });
  // Screen readers get KaTeX's MathML; the TeX stays available as a tooltip.
  element.title = tex;
});
