// The codetune VS Code extension: starts `codetune-lsp` over stdio with vscode-languageclient.
//
// Settings: only values from the user's own settings are sent (initializationOptions and
// workspace/configuration), never a workspace's and never the defaults, so a repository
// cannot configure what runs on your machine and your codetune config file keeps applying.
import { execFile } from 'child_process';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from 'vscode-languageclient/node';

const SECTION = 'codetune';
const SERVER_ROOTS = ['server', 'store', 'features']; // the server's own (non-privileged) keys
const FEEDBACK = 'codetune.feedback';

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel | undefined; // ours, shared with the client (server stderr, logMessage)
let settingKeys: string[] = [];
let lastExecution: string | undefined; // the last suggestion or action used, for rating

type Settings = { [key: string]: unknown };

function userValue<T>(key: string): T | undefined {
  return vscode.workspace.getConfiguration(SECTION).inspect<T>(key)?.globalValue;
}

/** The user-scope codetune settings, nested as the server reads them. */
export function userSettings(): Settings {
  const settings: Settings = {};
  for (const key of settingKeys) {
    const value = userValue<unknown>(key);
    if (value !== undefined) {
      setPath(settings, key.split('.'), value);
    }
  }
  if (!vscode.workspace.isTrusted) {
    // Restricted Mode: nothing runs the model over files just because they were opened.
    setPath(settings, ['features', 'diagnostics', 'run_on'], ['off']);
  }
  return settings;
}

function setPath(target: Settings, path: string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    node = (node[part] ??= {}) as Settings;
  }
  node[path[path.length - 1]] = value;
}

function serverOptions(): ServerOptions {
  const command = userValue<string>('lsp.path') || 'codetune-lsp';
  const args = userValue<string[]>('lsp.args') ?? [];
  return { command, args, transport: TransportKind.stdio };
}

function clientOptions(): LanguageClientOptions {
  const languages = userValue<string[]>('lsp.languages') ?? ['python'];
  const documentSelector = languages.includes('*')
    ? [{ scheme: 'file' }, { scheme: 'untitled' }]
    : languages.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]);
  return {
    documentSelector,
    outputChannel: output,
    initializationOptions: userSettings(),
    middleware: {
      workspace: {
        // Answer workspace/configuration from user settings only.
        configuration: (params) => params.items.map((item) => (item.section === SECTION ? userSettings() : null)),
      },
      // Commands the editor runs after a suggestion is accepted or an action applied carry
      // the execution id: remember it for "Rate the last AI suggestion".
      executeCommand: (command, args, next) => {
        if (command === FEEDBACK && typeof args[0] === 'string') {
          lastExecution = args[0];
        }
        return next(command, args);
      },
    },
  };
}

async function execute(command: string, args: unknown[]): Promise<unknown> {
  if (!client || !client.isRunning()) {
    throw new Error('the codetune server is not running');
  }
  const commands = client.initializeResult?.capabilities.executeCommandProvider?.commands ?? [];
  if (!commands.includes(command)) {
    throw new Error(`this codetune-lsp does not offer ${command}; update it`);
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
}

function reporting(action: () => Promise<void>): () => Promise<void> {
  return async () => {
    try {
      await action();
    } catch (error) {
      vscode.window.showErrorMessage(`codetune: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
}

async function rateLastSuggestion(): Promise<void> {
  if (!lastExecution) {
    vscode.window.showInformationMessage('codetune: no suggestion has been used yet in this session.');
    return;
  }
  const picked = await vscode.window.showQuickPick(['5', '4', '3', '2', '1'], {
    placeHolder: 'How good was the last suggestion? (5: very good)',
  });
  if (!picked) {
    return;
  }
  const comment = await vscode.window.showInputBox({ prompt: 'A comment (optional)' });
  const args: unknown[] = [lastExecution, 'rating', Number(picked)];
  if (comment) {
    args.push(comment);
  }
  await execute(FEEDBACK, args);
  vscode.window.showInformationMessage('codetune: thanks, rating recorded.');
}

async function deployPrompt(): Promise<void> {
  const template = await vscode.window.showInputBox({ prompt: 'Template name', placeHolder: 'completion.infill' });
  if (!template) {
    return;
  }
  const version = await vscode.window.showInputBox({
    prompt: `Version of ${template} to deploy`,
    validateInput: (text) => (/^\d+$/.test(text) ? undefined : 'a version number'),
  });
  if (!version) {
    return;
  }
  const label = await vscode.window.showInputBox({ prompt: 'Label', value: 'production' });
  if (!label) {
    return;
  }
  await execute('codetune.prompts.deploy', [template, Number(version), label]);
  vscode.window.showInformationMessage(`codetune: ${template} v${version} deployed to ${label}.`);
}

async function rollbackPrompt(): Promise<void> {
  const template = await vscode.window.showInputBox({ prompt: 'Template name', placeHolder: 'completion.infill' });
  if (!template) {
    return;
  }
  const label = await vscode.window.showInputBox({ prompt: 'Label to roll back', value: 'production' });
  if (!label) {
    return;
  }
  await execute('codetune.prompts.rollback', [template, label]);
  vscode.window.showInformationMessage(`codetune: ${label} of ${template} rolled back.`);
}

async function openHistory(): Promise<void> {
  const options = serverOptions() as { command: string; args?: string[] };
  const terminal = vscode.window.createTerminal({
    name: 'codetune history',
    shellPath: options.command,
    shellArgs: [...(options.args ?? []), 'history', 'list'],
  });
  terminal.show();
}

/** Write the HTML report (`codetune-lsp report`) where the server says, then open it. */
async function openReport(): Promise<void> {
  const status = (await execute('codetune.status', [])) as { report?: { path?: string } };
  const path = status.report?.path;
  if (!path) {
    throw new Error('this codetune-lsp does not write reports; update it');
  }
  const options = serverOptions() as { command: string; args?: string[] };
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'codetune: writing the report' },
    () =>
      new Promise<void>((resolve, reject) => {
        execFile(options.command, [...(options.args ?? []), 'report', '-o', path], { timeout: 120_000 }, (error, _stdout, stderr) =>
          error ? reject(new Error(stderr.trim() || error.message)) : resolve(),
        );
      }),
  );
  await vscode.env.openExternal(vscode.Uri.file(path));
}

async function start(): Promise<void> {
  const options = serverOptions() as { command: string; args?: string[] };
  output?.info(`Starting ${[options.command, ...(options.args ?? [])].join(' ')}`);
  client = new LanguageClient('codetune', 'codetune', options, clientOptions());
  await client.start();
  const info = client.initializeResult?.serverInfo;
  output?.info(`Server started: ${info?.name ?? 'codetune-lsp'} ${info?.version ?? ''}`.trimEnd());
}

async function restart(): Promise<void> {
  if (client) {
    await client.stop();
  }
  await start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const properties = context.extension.packageJSON.contributes.configuration.properties as Settings;
  settingKeys = Object.keys(properties)
    .map((key) => key.slice(SECTION.length + 1))
    .filter((key) => SERVER_ROOTS.includes(key.split('.')[0]));
  output = vscode.window.createOutputChannel('codetune', { log: true });
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand('codetune.rateLastSuggestion', reporting(rateLastSuggestion)),
    vscode.commands.registerCommand('codetune.deployPrompt', reporting(deployPrompt)),
    vscode.commands.registerCommand('codetune.rollbackPrompt', reporting(rollbackPrompt)),
    vscode.commands.registerCommand('codetune.openHistory', reporting(openHistory)),
    vscode.commands.registerCommand('codetune.openReport', reporting(openReport)),
    vscode.commands.registerCommand('codetune.restartServer', reporting(restart)),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (!event.affectsConfiguration(SECTION) || !client) {
        return;
      }
      if (event.affectsConfiguration(`${SECTION}.lsp`)) {
        void restart(); // a different program or language list needs a new server
      } else {
        void client.sendNotification('workspace/didChangeConfiguration', {
          settings: { [SECTION]: userSettings() },
        });
      }
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => void restart()),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
