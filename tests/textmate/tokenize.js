// Tokenizes rule files with the TextMate engine VS Code itself uses (vscode-textmate on
// the Oniguruma regex library, from npm) and the grammar in editors/vscode/syntaxes.
// Prints one JSON line per token: {"line", "text", "scopes"}. Run by
// tests/integration/editors.rs through tests/textmate.sh.
const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const [grammarPath, ...files] = process.argv.slice(2);
const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm")).buffer;
const onig = oniguruma.loadWASM(wasm).then(() => ({
  createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
  createOnigString: (s) => new oniguruma.OnigString(s),
}));
const registry = new vsctm.Registry({
  onigLib: onig,
  loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
});
registry.loadGrammar("source.stroom").then((grammar) => {
  for (const file of files) {
    let state = vsctm.INITIAL;
    fs.readFileSync(file, "utf8").split("\n").forEach((line, n) => {
      const r = grammar.tokenizeLine(line, state);
      for (const t of r.tokens) {
        const text = line.substring(t.startIndex, t.endIndex);
        if (text.trim()) console.log(JSON.stringify({ line: n + 1, text, scopes: t.scopes }));
      }
      state = r.ruleStack;
    });
  }
});
