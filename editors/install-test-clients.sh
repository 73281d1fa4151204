#!/bin/sh
# Install the editor clients that tests/editors drives: Neovim, Emacs + eglot, Vim + ALE
# (apt, Debian/Ubuntu), the Node packages of node-client-test/ and vscode/ (npm ci), and VS Code
# itself as code-server (vscode/install-code-server.sh) driven by Debian's Chromium.
# Idempotent and quiet: installs only what is missing, prints only problems.
set -eu
here=$(cd "$(dirname "$0")" && pwd)

packages="neovim emacs-nox elpa-eglot vim vim-ale chromium ripgrep g++ make"
command -v node >/dev/null 2>&1 || packages="$packages nodejs npm"
missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
if [ -n "$missing" ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >/dev/null
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null
fi

if ! command -v npm >/dev/null 2>&1; then
    echo "install-test-clients: npm not found; the Node client tests will skip" >&2
    exit 0
fi
for dir in node-client-test vscode; do
    # npm ci leaves node_modules/.package-lock.json; redo it only when the lock is newer.
    installed="$here/$dir/node_modules/.package-lock.json"
    if [ ! -f "$installed" ] || [ "$here/$dir/package-lock.json" -nt "$installed" ]; then
        # No install scripts: none is needed, and some fetch binaries from outside npm.
        (cd "$here/$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    fi
done
# code-server: about 90 s and 310 MB the first time, then a no-op (a stamp in its folder).
sh "$here/vscode/install-code-server.sh"
