-- Headless Neovim test of Offpilot (run by test_neovim.sh with nvim_init.lua loaded):
-- the client attaches, the server answers offpilot/stats and textDocument/inlineCompletion,
-- and, when the server offers them, code actions, offpilot.explain, and the documentation
-- diagnostic with its quick fix (requested with the diagnostic in the context, then applied),
-- Explain / Fix this problem offered on another server's diagnostic, and Fix this problem run
-- on a ruff syntax error (the verified edit applied by Neovim to the buffer, not to the disk).
local out = {}
local function log(...) io.stderr:write('[neovim] ' .. table.concat(vim.tbl_map(tostring, { ... }), ' ') .. '\n') end
local function fail(msg)
  log('FAIL: ' .. msg)
  vim.cmd('cquit 1')
end

-- the diagnostics as the server published them (LSP form, to send back in a code action context)
local published = {}
local publish_diagnostics = vim.lsp.handlers['textDocument/publishDiagnostics']
vim.lsp.handlers['textDocument/publishDiagnostics'] = function(err, result, ctx, config)
  if result then published[result.uri] = result.diagnostics end
  return publish_diagnostics(err, result, ctx, config)
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
  if vim.tbl_contains(commands, 'offpilot.generateDocs') then
    -- A docstring that documents `discount`, which is no longer a parameter (and not `rate`):
    -- the server publishes an `offpilot` diagnostic; the code action request carrying it gets
    -- "Offpilot: Update documentation" with an edit, which Neovim applies.
    local docs_file = vim.fn.fnamemodify(file, ':h') .. '/billing.py'
    local source = {
      'def total_cents(prices: list[int], rate: float) -> int:',
      '    """Add up the prices and the tax on them.',
      '',
      '    Args:',
      '        prices: the prices in cents.',
      '        discount: a discount in percent.',
      '    """',
      '    return round(sum(prices) * (1 + rate))',
    }
    vim.fn.writefile(source, docs_file)
    vim.cmd('hide edit ' .. vim.fn.fnameescape(docs_file))
    local dbuf = vim.api.nvim_get_current_buf()
    local uri = vim.uri_from_bufnr(dbuf)
    if not vim.wait(15000, function() return vim.lsp.buf_is_attached(dbuf, client.id) end, 100) then
      fail('the offpilot client did not attach to ' .. docs_file) return
    end
    local diag
    if not vim.wait(30000, function()
      for _, d in ipairs(published[uri] or {}) do
        if d.source == 'offpilot' and d.code == 'doc-params' then diag = d return true end
      end
      return false
    end, 100) then fail('no offpilot documentation diagnostic for ' .. docs_file .. ': ' .. vim.inspect(published[uri])) return end
    log('diagnostic: line ' .. diag.range.start.line .. ', severity ' .. diag.severity .. ': ' .. diag.message)
    if diag.severity ~= 3 or not diag.message:find('discount', 1, true) then fail('unexpected diagnostic ' .. vim.inspect(diag)) return end
    local answer = client.request_sync('textDocument/codeAction', {
      textDocument = { uri = uri }, range = diag.range, context = { diagnostics = { diag } },
    }, 10000, dbuf)
    if not answer or answer.err then fail('codeAction failed: ' .. vim.inspect(answer)) return end
    local update
    for _, a in ipairs(answer.result or {}) do
      if a.title == 'Offpilot: Update documentation' then update = a end
    end
    log('code actions on the diagnostic: ' .. vim.inspect(vim.tbl_map(function(a) return a.title end, answer.result or {})))
    if not update or update.kind ~= 'quickfix' or type(update.edit) ~= 'table' then
      fail('no "Offpilot: Update documentation" quick fix with an edit: ' .. vim.inspect(answer.result)) return
    end
    if not (update.diagnostics and update.diagnostics[1] and update.diagnostics[1].message == diag.message) then
      fail('the quick fix does not name the diagnostic it fixes: ' .. vim.inspect(update.diagnostics)) return
    end
    vim.lsp.util.apply_workspace_edit(update.edit, client.offset_encoding)
    local lines = vim.api.nvim_buf_get_lines(dbuf, 0, -1, false)
    local args, in_args = {}, false
    for _, l in ipairs(lines) do
      if l == '    Args:' then in_args = true
      elseif in_args and l == '    """' then break
      elseif in_args then table.insert(args, vim.trim(l):match('^([%w_]+):')) end
    end
    log('buffer after the quick fix: ' .. vim.inspect(lines))
    if table.concat(args, ',') ~= 'prices,rate' or lines[1] ~= source[1] or lines[#lines] ~= source[#source]
      or not vim.tbl_contains(lines, '        prices: the prices in cents.') then
      fail('the quick fix did not update the docstring as expected') return
    end
    -- the server sees the edited buffer (didChange) and withdraws its diagnostic
    if not vim.wait(15000, function()
      for _, d in ipairs(published[uri] or {}) do if d.source == 'offpilot' then return false end end
      return true
    end, 100) then fail('the documentation diagnostic stayed after the fix: ' .. vim.inspect(published[uri])) return end
    log('docs: quick fix applied, documented parameters ' .. table.concat(args, ', ') .. '; diagnostic withdrawn')
    out.docs = lines
  else
    log('offpilot.generateDocs not offered by this server: documentation skipped')
  end
  if vim.tbl_contains(commands, 'offpilot.explainProblem') then
    -- Another server's diagnostic, as Neovim sends it back in the code action context (here one
    -- as Pyright publishes it for an undefined name): Explain / Fix this problem are offered.
    local fix_file = vim.fn.fnamemodify(file, ':h') .. '/cart.py'
    vim.fn.writefile({
      'def cart_total(prices):',
      '    total = 0',
      '    for price in prices:',
      '        total += price',
      '    return totl',
    }, fix_file)
    vim.cmd('hide edit ' .. vim.fn.fnameescape(fix_file))
    local fbuf = vim.api.nvim_get_current_buf()
    if not vim.wait(15000, function() return vim.lsp.buf_is_attached(fbuf, client.id) end, 100) then
      fail('the offpilot client did not attach to ' .. fix_file) return
    end
    local problem = {
      range = { start = { line = 4, character = 11 }, ['end'] = { line = 4, character = 15 } },
      message = '"totl" is not defined', severity = 1, source = 'Pyright', code = 'reportUndefinedVariable',
    }
    local answer = client.request_sync('textDocument/codeAction', {
      textDocument = { uri = vim.uri_from_bufnr(fbuf) }, range = problem.range,
      context = { diagnostics = { problem } },
    }, 10000, fbuf)
    if not answer or answer.err then fail('codeAction failed: ' .. vim.inspect(answer)) return end
    local found = {}
    for _, a in ipairs(answer.result or {}) do
      local arg = a.command and a.command.arguments and a.command.arguments[1]
      if a.kind == 'quickfix' and arg and arg.diagnostic and arg.diagnostic.message == problem.message then
        found[a.title] = a.command.command
      end
    end
    log('code actions on the Pyright diagnostic: ' .. vim.inspect(vim.tbl_map(function(a) return a.title end, answer.result or {})))
    if found['Offpilot: Explain this problem'] ~= 'offpilot.explainProblem' or found['Offpilot: Fix this problem'] ~= 'offpilot.fixProblem' then
      fail('Explain / Fix this problem not offered on the diagnostic: ' .. vim.inspect(answer.result)) return
    end
    log('fix: Explain this problem and Fix this problem offered on the diagnostic')
    out.fix = found
  else
    log('offpilot.explainProblem not offered by this server: Explain / Fix this problem skipped')
  end
  if vim.tbl_contains(commands, 'offpilot.fixProblem') then
    -- Fix this problem, end to end: a syntax error as ruff reports it; the action's command runs
    -- through the client, the server sends workspace/applyEdit for a verified fix, and Neovim
    -- applies it to the buffer. The server never writes the file on disk.
    -- in a workspace of its own, as tests/lsp/test_fix.py has it (Neovim starts a server for it)
    local ws = vim.fn.fnamemodify(file, ':h:h:h') .. '/ws'
    vim.fn.mkdir(ws, 'p')
    vim.fn.writefile({ '[project]', "name = 'ws'", "version = '0'" }, ws .. '/pyproject.toml')
    local broken_file = ws .. '/shapes.py'
    local broken = {
      'def area(width, height:',
      '    return width * height',
      '',
      '',
      'def perimeter(width, height):',
      '    return 2 * (width + height)',
    }
    vim.fn.writefile(broken, broken_file)
    local function read_disk()
      local f = assert(io.open(broken_file, 'rb'))
      local bytes = f:read('*a')
      f:close()
      return bytes
    end
    local on_disk = read_disk()
    vim.cmd('hide edit ' .. vim.fn.fnameescape(broken_file))
    local sbuf = vim.api.nvim_get_current_buf()
    local client = nil
    if not vim.wait(60000, function()
      for _, c in pairs(vim.lsp.get_active_clients()) do
        if c.name == 'offpilot' and c.initialized and vim.lsp.buf_is_attached(sbuf, c.id) then client = c return true end
      end
      return false
    end, 100) then fail('the offpilot client did not attach to ' .. broken_file) return end
    local problem = {
      range = { start = { line = 0, character = 22 }, ['end'] = { line = 0, character = 23 } },
      message = "SyntaxError: Expected ')', found ':'", severity = 1, source = 'ruff', code = '',
    }
    local answer = client.request_sync('textDocument/codeAction', {
      textDocument = { uri = vim.uri_from_bufnr(sbuf) }, range = problem.range,
      context = { diagnostics = { problem } },
    }, 10000, sbuf)
    if not answer or answer.err then fail('codeAction failed: ' .. vim.inspect(answer)) return end
    local action
    for _, a in ipairs(answer.result or {}) do
      if a.kind == 'quickfix' and a.title == 'Offpilot: Fix this problem' then action = a end
    end
    if not action or action.edit ~= nil or type(action.command) ~= 'table' or action.command.command ~= 'offpilot.fixProblem' then
      fail('no "Offpilot: Fix this problem" command on the ruff diagnostic: ' .. vim.inspect(answer.result)) return
    end
    local t0 = vim.loop.hrtime()
    local ran = client.request_sync('workspace/executeCommand', {
      command = action.command.command, arguments = action.command.arguments,
    }, 240000, sbuf)
    local seconds = (vim.loop.hrtime() - t0) / 1e9
    if not ran or ran.err or type(ran.result) ~= 'table' then
      fail('offpilot.fixProblem failed: ' .. vim.inspect(ran)) return
    end
    local result = ran.result
    local lines = vim.api.nvim_buf_get_lines(sbuf, 0, -1, false)
    local text = table.concat(lines, '\n') .. '\n'
    log(string.format('fix this problem: %s in %.0fs (%s); applied %s', tostring(result.status), seconds,
      tostring(result.reason), tostring(result.applied)))
    log('buffer after the fix: ' .. vim.inspect(lines))
    if read_disk() ~= on_disk then fail('the server wrote ' .. broken_file .. ' on disk') return end
    if result.status ~= 'verified' then
      -- an honest no-fix leaves the buffer as it was; the real model verifies this one
      if result.applied ~= false or not vim.deep_equal(lines, broken) then
        fail('no verified fix, yet the buffer changed: ' .. vim.inspect(result)) return
      end
      fail('expected a verified fix; the answer was: ' .. tostring(result.markdown)) return
    end
    if result.applied ~= true or vim.deep_equal(lines, broken) or not vim.bo[sbuf].modified then
      fail('a verified fix, but Neovim did not apply it to the buffer: ' .. vim.inspect(result)) return
    end
    if not (type(result.edit) == 'table' and text:find(result.edit.newText, 1, true)) then
      fail('the buffer does not hold the verified edit: ' .. vim.inspect(result.edit)) return
    end
    local _, opened = text:gsub('%(', '')
    local _, closed = text:gsub('%)', '')
    if opened ~= closed or not vim.tbl_contains(lines, 'def perimeter(width, height):')
      or not lines[1]:match('^def area%(') then
      fail('the fixed buffer still has the syntax error: ' .. vim.inspect(lines)) return
    end
    local python = vim.fn.exepath('python3')
    if python ~= '' then
      vim.fn.system({ python, '-c', 'import ast, sys; ast.parse(sys.stdin.read())' }, text)
      if vim.v.shell_error ~= 0 then fail('the fixed buffer is not valid Python: ' .. vim.inspect(lines)) return end
    end
    log('fix: verified fix applied by Neovim to the buffer; the file on disk unchanged')
    out.fixed = lines
  else
    log('offpilot.fixProblem not offered by this server: Fix this problem skipped')
  end
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
