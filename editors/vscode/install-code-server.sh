#!/bin/sh
# Install code-server (VS Code in the browser) from npm for tests/editors/test_vscode_browser.py,
# with no download outside npm: install scripts are skipped (they fetch prebuilt binaries from
# elsewhere), the native modules are compiled here against the system Node's headers, and
# ripgrep comes from apt (/usr/bin/rg). Idempotent: a stamp file marks a finished install.
#   usage: install-code-server.sh [DIR]   (default $CODETUNE_CODE_SERVER or ~/.cache/codetune/...)
set -eu
version=4.100.3 # the last code-server whose engines field accepts Node 20 (4.103 wants 22)
dir=${1:-${CODETUNE_CODE_SERVER:-$HOME/.cache/codetune/code-server-$version}}
stamp="$dir/.installed-$version"
[ -f "$stamp" ] && exit 0

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" != 20 ]; then
    echo "install-code-server: code-server $version needs Node 20, not $(node --version)" >&2
    exit 1
fi
nodedir=$(dirname "$(dirname "$(command -v node)")") # /usr: headers in /usr/include/node
if [ ! -f "$nodedir/include/node/node.h" ]; then
    echo "install-code-server: no Node headers under $nodedir/include/node" >&2
    exit 1
fi
gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
quiet="--no-audit --no-fund --loglevel=error --ignore-scripts"

rm -rf "$dir"
mkdir -p "$dir"
# shellcheck disable=SC2086  # $quiet is several flags
npm install --prefix "$dir" $quiet "code-server@$version" >/dev/null
server="$dir/node_modules/code-server"
vscode="$server/lib/vscode"
# shellcheck disable=SC2086
(cd "$vscode" && npm install --omit=dev $quiet >/dev/null)
# shellcheck disable=SC2086
(cd "$vscode/extensions" && npm install --omit=dev $quiet >/dev/null && node postinstall.mjs >/dev/null)

build() { # build DIR [node-gyp args...]: compile one native module against the system Node
    module=$1
    shift
    (cd "$module" && node "$gyp" rebuild --nodedir="$nodedir" "$@" >build.log 2>&1) || {
        tail -20 "$module/build.log" >&2
        exit 1
    }
}
for module in node-pty @vscode/spdlog native-watchdog; do
    build "$vscode/node_modules/$module"
done
# argon2 (password hashing, loaded at start-up) builds with node-pre-gyp's variables.
build "$dir/node_modules/argon2" --module_name=argon2 --napi_build_version=3 \
    --module_path="$dir/node_modules/argon2/lib/binding/napi-v3"

# What code-server's own postinstall does, less the downloads.
mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
ln -sf "$(command -v rg)" "$vscode/node_modules/@vscode/ripgrep/bin/rg"
ln -sfn node_modules "$vscode/node_modules.asar"
(cd "$vscode/bin/remote-cli" && ln -sf code-linux.sh code-server)
(cd "$vscode/bin/helpers" && ln -sf browser-linux.sh browser.sh)

"$dir/node_modules/.bin/code-server" --version >/dev/null
touch "$stamp"
