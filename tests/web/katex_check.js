// Reads a JSON list of [where, tex, display] from stdin and prints one line for each formula
// that KaTeX (the copy the site serves) refuses in strict mode. The pages render with
// throwOnError: false, so without this check a broken formula would show as red source text.
"use strict";
const katex = require(process.argv[2]);
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  for (const [where, tex, display] of JSON.parse(input)) {
    try {
      katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "error" });
    } catch (error) {
      console.log(`${where}: ${error.message.split("\n")[0]}`);
    }
  }
});
