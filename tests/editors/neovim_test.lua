-- Headless Neovim test of Offpilot (run by test_neovim.sh with nvim_init.lua loaded):
-- the client attaches, the server answers offpilot/stats and textDocument/inlineCompletion,
-- and, when the server offers them, code actions and offpilot.explain.
local out = {}
local function log(...) io.stderr:write('[neovim] ' .. table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n') end
local function fail(msg)
  log('FAIL: ' .. msg)
  vim.cmd('cquit 1')
end

local ok, err = pcall(function()
  local file = os.getenv('OFFPILOT_NVIM_FILE')
  vim.cmd('edit ' .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()

  local client
  if not vim.wait(30000, function()
    for _, c in pairs(vim.lsp.get_active_clients()) do
      if c.name == 'offpilot' and c.initialized and vim.lsp.buf_is_attached(buf, c.id) then client = c return true end
    end
    return false
  end, 100) then fail('the offpilot client did not attach') return end
  log('attached: client ' .. client.id .. ', server ' .. vim.inspect(client.server_capabilities.inlineCompletionProvider ~= nil and 'offers inline completion' or 'NO inline completion'))
  if client.server_capabilities.inlineCompletionProvider == nil then fail('no inlineCompletionProvider') return end

  vim.wait(120000, function()
    local s = vim.g.offpilot_status
    return s ~= nil and (s.state == 'ready' or s.state == 'indexing' or s.state == 'error' or s.state == 'no-model')
  end, 200)
  log('status: ' .. vim.inspect(vim.g.offpilot_status))

  -- a new function at the end of the file; ask for the completion of its body
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_lines(buf, last, last, false, { '', '', 'def price_with_tax(price_cents: int, rate: float) -> int:', '    ' })
  local line = vim.api.nvim_buf_line_count(buf) - 1
  local answer = client.request_sync('textDocument/inlineCompletion', {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = line, character = 4 },
    context = { triggerKind = 1 },
  }, 60000, buf)
  if not answer or answer.err then fail('inlineCompletion failed: ' .. vim.inspect(answer)) return end
  local items = answer.result and (answer.result.items or answer.result) or {}
  log('inline completion: ' .. vim.inspect(items[1] and items[1].insertText or '(no item)'))
  out.completion = items[1] and items[1].insertText or ''

  local stats = client.request_sync('offpilot/stats', {}, 10000, buf)
  if not stats or stats.err or type(stats.result) ~= 'table' then fail('offpilot/stats failed: ' .. vim.inspect(stats)) return end
  log('stats.completion: ' .. vim.inspect(stats.result.completion))
  if (stats.result.completion or {}).requests == nil or stats.result.completion.requests < 1 then
    fail('offpilot/stats counted no completion request') return
  end

  local commands = (client.server_capabilities.executeCommandProvider or {}).commands or {}
  log('server commands: ' .. vim.inspect(commands))
  if vim.tbl_contains(commands, 'offpilot.explain') then
    -- the code actions on apply_discount, then the Explain command as a code action would run it
    local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    local def_line
    for i, l in ipairs(lines) do if l:match('^def apply_discount') then def_line = i - 1 break end end
    local range = { start = { line = def_line + 1, character = 4 }, ['end'] = { line = def_line + 1, character = 4 } }
    local actions = client.request_sync('textDocument/codeAction', {
      textDocument = { uri = vim.uri_from_bufnr(buf) }, range = range, context = { diagnostics = {} },
    }, 10000, buf)
    local titles = vim.tbl_map(function(a) return a.title end, (actions and actions.result) or {})
    log('code actions: ' .. vim.inspect(titles))
    local explain = client.request_sync('workspace/executeCommand', {
      command = 'offpilot.explain', arguments = { { uri = vim.uri_from_bufnr(buf), range = range } },
    }, 180000, buf)
    if not explain or explain.err or type(explain.result) ~= 'table' or (explain.result.markdown or '') == '' then
      fail('offpilot.explain failed: ' .. vim.inspect(explain)) return
    end
    log('explain: ' .. explain.result.markdown:sub(1, 160):gsub('\n', ' '))
    out.explain = explain.result.markdown
  else
    log('offpilot.explain not offered by this server: skipped')
  end
end)
if not ok then fail(tostring(err)) end
log('PASS')
vim.cmd('qall!')
