-- Headless Neovim session driven by test_neovim.py through the project's Lua module.
-- Env: CT_FILE (the Python file), CT_CMD (the server command, JSON), CT_OUT (results, JSON).
local out = {
  version = tostring(vim.version().major) .. '.' .. vim.version().minor .. '.' .. vim.version().patch,
  messages = {},
  progress = 0,
  errors = {},
}

local function sync(client, ...) -- client:request_sync on 0.11+, client.request_sync before
  if vim.fn.has('nvim-0.11') == 1 then return client:request_sync(...) end
  return client.request_sync(...)
end

local function save()
  local file = io.open(os.getenv('CT_OUT'), 'w')
  file:write(vim.json.encode(out))
  file:close()
end

local function step(name) -- saved as it goes, so a hang shows where it stopped
  out.step = name
  save()
end

local function finish()
  save()
  vim.cmd('qa!')
end

local function fail(message)
  table.insert(out.errors, message)
  finish()
end

local show = vim.lsp.handlers['window/showMessage']
vim.lsp.handlers['window/showMessage'] = function(err, result, ctx, config)
  table.insert(out.messages, { type = result.type, message = result.message })
  return show(err, result, ctx, config)
end
local progress = vim.lsp.handlers['$/progress']
vim.lsp.handlers['$/progress'] = function(err, result, ctx, config)
  out.progress = out.progress + 1
  return progress(err, result, ctx, config)
end

local ok, err = pcall(function()
  vim.cmd('filetype on')
  require('codetune').setup({
    cmd = vim.json.decode(os.getenv('CT_CMD')),
    filetypes = { 'python' },
    -- A bad value must come back as one window/showMessage naming the key.
    settings = { features = { completion = { debounce_ms = 'x' } } },
  })
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('CT_FILE')))
  local bufnr = vim.api.nvim_get_current_buf()
  step('initialize')
  local client
  vim.wait(30000, function()
    client = require('codetune').client(bufnr)
    return client ~= nil and client.initialized
  end, 50)
  if not (client and client.initialized) then
    error('the server did not initialize')
  end
  out.root_dir = client.config.root_dir

  step('diagnostics')
  -- Pushed diagnostics (the forced template: one finding on line 1).
  vim.wait(60000, function() return #vim.diagnostic.get(bufnr) > 0 end, 100)
  out.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(out.diagnostics, {
      lnum = d.lnum, source = d.source, message = d.message,
      code = d.user_data and d.user_data.lsp and d.user_data.lsp.code or d.code,
    })
  end

  step('completion')
  -- Completion at the end of line 5 ("    result = subprocess.call(cmd, shell=True)").
  local uri = vim.uri_from_bufnr(bufnr)
  local line = vim.api.nvim_buf_get_lines(bufnr, 4, 5, false)[1]
  local responses = vim.lsp.buf_request_sync(bufnr, 'textDocument/completion', {
    textDocument = { uri = uri },
    position = { line = 4, character = #line },
    context = { triggerKind = 1 },
  }, 60000)
  out.completion_items = 0
  for _, response in pairs(responses or {}) do
    local result = response.result or {}
    local items = result.items or result
    out.completion_items = out.completion_items + #items
    if items[1] then out.completion_first = items[1].label end
  end

  step('code action')
  -- A code action, resolved (0.7 advertises resolveSupport for `edit`), applied to the buffer.
  local before = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
  local cursor = { line = 4, character = 6 }
  local actions = vim.lsp.buf_request_sync(bufnr, 'textDocument/codeAction', {
    textDocument = { uri = uri },
    range = { start = cursor, ['end'] = cursor },
    context = { diagnostics = {} },
  }, 30000)
  local chosen
  out.action_titles = {}
  for _, response in pairs(actions or {}) do
    for _, action in ipairs(response.result or {}) do
      table.insert(out.action_titles, action.title)
      if action.title == 'AI: Tiny edit (test)' then chosen = action end
    end
  end
  if not chosen then error('no "AI: Tiny edit (test)" action') end
  out.action_lazy = chosen.edit == nil and chosen.data ~= nil
  step('resolve')
  local resolved = sync(client, 'codeAction/resolve', chosen, 90000, bufnr)
  if not resolved or resolved.err then
    error('resolve failed: ' .. vim.inspect(resolved))
  end
  local action = resolved.result
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
  end
  if action.command then -- codetune.feedback "applied"
    local fed = sync(client, 'workspace/executeCommand', action.command, 10000, bufnr)
    out.feedback = fed and fed.result
  end
  local after = table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n')
  out.buffer_changed = before ~= after
  out.buffer_after = after

  step('status')
  -- The server agrees with the buffer after the edit (didChange went out).
  vim.wait(200)
  local status = sync(client, 'workspace/executeCommand', {
    command = 'codetune.status', arguments = { uri },
  }, 10000, bufnr)
  out.server_sha256 = status and status.result and status.result.sha256
  out.buffer_text = after .. '\n'
end)
if not ok then
  table.insert(out.errors, tostring(err))
end
finish()
