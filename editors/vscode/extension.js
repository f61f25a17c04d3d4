// Starts `stroom lsp` for Stroom rule files; everything else comes from the server.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("stroom").get("path") || "stroom";
  client = new LanguageClient(
    "stroom",
    "Stroom",
    { command, args: ["lsp"] },
    { documentSelector: [{ scheme: "file", language: "stroom" }, { scheme: "untitled", language: "stroom" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
