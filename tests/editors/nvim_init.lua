-- Offpilot for Neovim: starts `offpilot serve` for the buffers of a project and attaches them.
-- Works with Neovim 0.7 (Debian 12) and newer (vim.lsp.start, 0.8+).
--   nvim -u tests/editors/nvim_init.lua file.py      or copy the `offpilot_setup` call into your config.
-- The server command: $OFFPILOT_SERVER, else <project>/.venv/bin/offpilot, else `offpilot` on PATH.
-- Inline (ghost-text) completion needs Neovim 0.12's vim.lsp.inline_completion; on older versions
-- `:lua offpilot_complete()` inserts the server's suggestion at the cursor.

local function project_root(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local found = vim.fn.finddir('.git', dir .. ';')
  for _, marker in ipairs({ 'pyproject.toml', 'setup.py', 'package.json', 'go.mod', 'Cargo.toml' }) do
    local f = vim.fn.findfile(marker, dir .. ';')
    if f ~= '' then return vim.fn.fnamemodify(f, ':p:h') end
  end
  if found ~= '' then return vim.fn.fnamemodify(found, ':p:h:h') end
  return dir
end

local function server_cmd(root)
  local env = os.getenv('OFFPILOT_SERVER')
  if env and env ~= '' then return { env, 'serve' } end
  local venv = root .. '/.venv/bin/offpilot'
  if vim.fn.executable(venv) == 1 then return { venv, 'serve' } end
  return { 'offpilot', 'serve' }
end

-- Same names as the VS Code settings (without the `offpilot.` prefix).
local settings = { offpilot = { maxTokens = 64, maxLines = 8, logLevel = 'info' } }

local clients = {}  -- root -> client id

function offpilot_setup(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or vim.bo[bufnr].buftype ~= '' then return end
  local root = project_root(name)
  local config = {
    name = 'offpilot',
    cmd = server_cmd(root),
    root_dir = root,
    init_options = settings.offpilot,
    settings = settings,  -- answers workspace/configuration (section "offpilot")
    handlers = {
      ['offpilot/status'] = function(_, result)
        vim.g.offpilot_status = result
      end,
      ['offpilot/stream'] = function(_, result)
        vim.g.offpilot_stream_chars = (vim.g.offpilot_stream_chars or 0) + #(result.delta or '')
      end,
    },
  }
  if vim.lsp.start then  -- Neovim 0.8+
    clients[root] = vim.lsp.start(config, { bufnr = bufnr })
    return
  end
  if clients[root] == nil then
    clients[root] = vim.lsp.start_client(config)
  end
  vim.lsp.buf_attach_client(bufnr, clients[root])
end

-- Inserts the first inline completion at the cursor (for Neovim without inline completion UI).
function offpilot_complete()
  local pos = vim.api.nvim_win_get_cursor(0)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    position = { line = pos[1] - 1, character = pos[2] },
    context = { triggerKind = 1 },
  }
  local answers = vim.lsp.buf_request_sync(0, 'textDocument/inlineCompletion', params, 10000) or {}
  for _, answer in pairs(answers) do
    local items = answer.result and (answer.result.items or answer.result) or {}
    if items[1] then
      local text = type(items[1].insertText) == 'table' and items[1].insertText.value or items[1].insertText
      vim.api.nvim_put(vim.split(text, '\n', { plain = true }), 'c', true, true)
      return
    end
  end
end

vim.api.nvim_create_autocmd('FileType', {
  pattern = { 'python', 'javascript', 'typescript', 'go', 'rust', 'c', 'cpp', 'java', 'lua' },
  callback = function(args) offpilot_setup(args.buf) end,
})
