-- codetune-lsp for Neovim 0.7 through 0.11 (and later).
--
--   require('codetune').setup({
--     cmd = { 'codetune-lsp' },                      -- or an absolute path
--     filetypes = { 'python' },                       -- nil: every file buffer
--     settings = { features = { completion = { mode = 'classic' } } },
--   })
--
-- `settings` holds non-privileged codetune keys (`codetune-lsp config show`); they are sent
-- as initializationOptions and answered on workspace/configuration (section `codetune`).
local M = {}

local uv = vim.uv or vim.loop

local defaults = {
  name = 'codetune',
  cmd = { 'codetune-lsp' },
  cmd_env = nil,
  filetypes = nil,
  root_markers = { '.git', '.codetune', 'pyproject.toml', 'setup.py', 'package.json' },
  settings = {},
  capabilities = nil,
  on_attach = nil,
}

-- Lists are replaced whole, tables of settings are merged.
local LISTS = { cmd = true, filetypes = true, root_markers = true }

M.config = vim.deepcopy(defaults)

-- 0.11 made client methods take `self` (client:request); 0.7-0.10 use client.request.
local function call(client, method, ...)
  if vim.fn.has('nvim-0.11') == 1 then
    return client[method](client, ...)
  end
  return client[method](...)
end

local function merge(opts)
  local config = vim.deepcopy(defaults)
  for key, value in pairs(opts or {}) do
    if LISTS[key] or type(value) ~= 'table' or type(config[key]) ~= 'table' then
      config[key] = value
    else
      config[key] = vim.tbl_deep_extend('force', config[key], value)
    end
  end
  return config
end

--- The nearest folder above the buffer's file holding one of `markers` (else its folder).
function M.root_dir(bufnr, markers)
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' then
    return uv.cwd()
  end
  local dir = vim.fn.fnamemodify(name, ':p:h')
  local current = dir
  while true do
    for _, marker in ipairs(markers) do
      if uv.fs_stat(current .. '/' .. marker) then
        return current
      end
    end
    local parent = vim.fn.fnamemodify(current, ':h')
    if parent == current then
      return dir
    end
    current = parent
  end
end

function M.client_config(bufnr)
  local config = M.config
  local root = M.root_dir(bufnr, config.root_markers)
  return {
    name = config.name,
    cmd = config.cmd,
    cmd_env = config.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = config.settings,
    settings = { codetune = config.settings },
    capabilities = config.capabilities or vim.lsp.protocol.make_client_capabilities(),
    on_attach = config.on_attach,
  }
end

local function running(config)
  local list = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  for _, client in pairs(list) do
    if client.name == config.name and client.config.root_dir == config.root_dir then
      if not call(client, 'is_stopped') then
        return client
      end
    end
  end
end

--- Start (or reuse) the server for `bufnr` and attach it; returns the client id.
function M.start(bufnr)
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  local config = M.client_config(bufnr)
  if vim.lsp.start then -- 0.8+: reuses a client with the same name and root_dir
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local client = running(config) -- 0.7
  local id = client and client.id or vim.lsp.start_client(config)
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- The codetune client attached to `bufnr` (or the current buffer), if any.
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local list = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr })
    or vim.lsp.buf_get_clients(bufnr)
  for _, client in pairs(list) do
    if client.name == M.config.name then
      return client
    end
  end
end

--- Run a server command (workspace/executeCommand) and hand the result to `callback`.
function M.execute(command, arguments, callback, bufnr)
  local client = M.client(bufnr)
  if not client then
    vim.notify('codetune: no server attached to this buffer', vim.log.levels.WARN)
    return
  end
  local params = { command = command, arguments = arguments }
  call(client, 'request', 'workspace/executeCommand', params, function(err, result)
    if err then
      vim.notify('codetune: ' .. (err.message or tostring(err)), vim.log.levels.ERROR)
    elseif callback then
      callback(result)
    end
  end, bufnr)
end

function M.setup(opts)
  M.config = merge(opts)
  local group = vim.api.nvim_create_augroup('codetune', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes or '*',
    callback = function(args)
      if vim.bo[args.buf].buftype == '' and vim.api.nvim_buf_get_name(args.buf) ~= '' then
        M.start(args.buf)
      end
    end,
  })
  vim.api.nvim_create_user_command('CodetuneStatus', function()
    M.execute('codetune.status', {}, function(result)
      vim.notify(vim.inspect(result))
    end)
  end, { desc = 'codetune-lsp: show the server status' })
  vim.api.nvim_create_user_command('CodetuneHistory', function()
    vim.cmd('terminal codetune-lsp history list')
  end, { desc = 'codetune-lsp: list recent executions' })
end

return M
