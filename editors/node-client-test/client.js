'use strict';
// Drives codetune-lsp with the Node stack VS Code's client is built on
// (vscode-languageserver-protocol over vscode-jsonrpc) and prints one JSON report.
//
//   CT_CMD='["codetune-lsp"]' CT_FILE=/path/app.py node client.js
//
// Checks: inline completion, pull diagnostics, codeAction/resolve with an edit, and
// cancelling a long resolve through a CancellationToken while the server keeps serving.
const { spawn } = require('child_process');
const path = require('path');
const fs = require('fs');
const { pathToFileURL } = require('url');
const P = require('vscode-languageserver-protocol/node');

const TINY_TITLE = process.env.CT_ACTION || 'AI: Tiny edit (test)';
const LONG_TITLE = process.env.CT_LONG_ACTION || 'AI: Optimize';
const CANCEL_AFTER_MS = Number(process.env.CT_CANCEL_AFTER_MS || 300);

const report = { errors: [], messages: [], progress: 0 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const [command, ...args] = JSON.parse(process.env.CT_CMD || '["codetune-lsp"]');
  const file = path.resolve(process.env.CT_FILE);
  const root = path.dirname(file);
  const uri = pathToFileURL(file).href;
  const text = fs.readFileSync(file, 'utf8');

  const server = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const connection = P.createProtocolConnection(
    new P.StreamMessageReader(server.stdout),
    new P.StreamMessageWriter(server.stdin),
  );
  connection.onRequest(P.WorkDoneProgressCreateRequest.type, () => null);
  connection.onRequest(P.ConfigurationRequest.type, (params) => params.items.map(() => null));
  connection.onRequest(P.ApplyWorkspaceEditRequest.type, () => ({ applied: true }));
  connection.onRequest(P.RegistrationRequest.type, () => null);
  connection.onNotification(P.ShowMessageNotification.type, (m) => report.messages.push(m));
  connection.onNotification(P.LogMessageNotification.type, () => {});
  connection.onNotification(P.PublishDiagnosticsNotification.type, (p) => {
    report.pushed = (report.pushed || 0) + p.diagnostics.length;
  });
  connection.onProgress(P.WorkDoneProgress.type, '*', () => {}); // typed handlers need a token
  connection.onNotification('$/progress', () => { report.progress += 1; });
  connection.listen();

  const init = await connection.sendRequest(P.InitializeRequest.type, {
    processId: process.pid,
    clientInfo: { name: 'codetune-node-client-test' },
    rootUri: pathToFileURL(root).href,
    workspaceFolders: [{ uri: pathToFileURL(root).href, name: 'project' }],
    capabilities: {
      window: { workDoneProgress: true, showMessage: {} },
      workspace: { applyEdit: true, workspaceEdit: { documentChanges: true }, configuration: true },
      textDocument: {
        synchronization: { didSave: true },
        inlineCompletion: { dynamicRegistration: false },
        diagnostic: { dynamicRegistration: false, relatedDocumentSupport: false },
        codeAction: {
          dataSupport: true,
          resolveSupport: { properties: ['edit'] },
          codeActionLiteralSupport: {
            codeActionKind: { valueSet: ['', 'quickfix', 'refactor', 'refactor.rewrite', 'source'] },
          },
        },
      },
    },
  });
  report.serverInfo = init.serverInfo;
  report.inlineProvider = Boolean(init.capabilities.inlineCompletionProvider);
  report.diagnosticProvider = Boolean(init.capabilities.diagnosticProvider);
  await connection.sendNotification(P.InitializedNotification.type, {});
  await connection.sendNotification(P.DidOpenTextDocumentNotification.type, {
    textDocument: { uri, languageId: 'python', version: 1, text },
  });
  const textDocument = { uri };

  // Pull diagnostics (this first request also waits for the model to load), then again
  // with the result id.
  const full = await connection.sendRequest(P.DocumentDiagnosticRequest.type, { textDocument });
  report.pull = { kind: full.kind, codes: full.items.map((d) => d.code),
    lines: full.items.map((d) => d.range.start.line), sources: full.items.map((d) => d.source) };
  const again = await connection.sendRequest(P.DocumentDiagnosticRequest.type, {
    textDocument, previousResultId: full.resultId,
  });
  report.pullAgain = again.kind;

  // Inline completion at the end of line 5.
  const line = text.split('\n')[4];
  const inline = await connection.sendRequest(P.InlineCompletionRequest.type, {
    textDocument,
    position: { line: 4, character: line.length },
    context: { triggerKind: P.InlineCompletionTriggerKind.Invoked },
  });
  const items = Array.isArray(inline) ? inline : inline.items;
  report.inlineItems = items.length;
  report.inlineCommand = items[0] && items[0].command && items[0].command.command;

  // A lazy code action, resolved into an edit.
  const cursor = { line: 4, character: 6 };
  const actions = await connection.sendRequest(P.CodeActionRequest.type, {
    textDocument, range: { start: cursor, end: cursor }, context: { diagnostics: [] },
  });
  report.actionTitles = actions.map((a) => a.title);
  const tiny = actions.find((a) => a.title === TINY_TITLE);
  report.lazy = Boolean(tiny && tiny.data && !tiny.edit);
  const resolved = await connection.sendRequest(P.CodeActionResolveRequest.type, tiny);
  const changes = (resolved.edit && resolved.edit.documentChanges) || [];
  report.resolvedEdits = changes.reduce((n, c) => n + ((c.edits && c.edits.length) || 0), 0);
  report.resolvedCommand = resolved.command && resolved.command.command;

  // Cancel a long resolve through a CancellationToken; the server must keep serving.
  const long = actions.find((a) => a.title === LONG_TITLE);
  const source = new P.CancellationTokenSource();
  const started = Date.now();
  const pending = connection.sendRequest(P.CodeActionResolveRequest.type, long, source.token);
  setTimeout(() => source.cancel(), CANCEL_AFTER_MS);
  try {
    await pending;
    report.cancel = { outcome: 'resolved', ms: Date.now() - started };
  } catch (error) {
    report.cancel = { outcome: 'rejected', code: error.code, message: error.message,
      ms: Date.now() - started };
  }
  const afterStart = Date.now();
  const status = await connection.sendRequest(P.ExecuteCommandRequest.type, {
    command: 'codetune.status', arguments: [uri],
  });
  report.afterCancel = { version: status.version, ms: Date.now() - afterStart };

  await connection.sendRequest(P.ShutdownRequest.type);
  await connection.sendNotification(P.ExitNotification.type);
  await new Promise((resolve) => {
    server.on('exit', (code) => { report.exitCode = code; resolve(); });
    setTimeout(resolve, 5000);
  });
  connection.dispose();
}

main()
  .catch((error) => report.errors.push(String((error && error.stack) || error)))
  .finally(() => {
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(0);
  });
