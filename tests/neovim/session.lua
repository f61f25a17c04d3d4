-- A scripted Neovim session against `stroom lsp`, run by tests/integration/neovim.rs:
-- nvim --headless -u <the book's set-up> -c "luafile tests/neovim/session.lua".
-- It opens the rule file in STROOM_TEST_FILE, waits for the diagnostics, hovers, asks
-- for completions and a definition, applies the quick fix and formats, and writes what
-- it saw as JSON to STROOM_TEST_OUT; the Rust test judges it. Neovim 0.7 and later.

local out = { steps = {} }
local function finish(err)
  out.error = err
  local f = io.open(vim.env.STROOM_TEST_OUT, "w")
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd(err and "cquit 1" or "qall!")
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(vim.env.STROOM_TEST_FILE))
  local buf = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo[buf].filetype

  local function wait(what, cond)
    if not vim.wait(20000, cond, 20) then
      error("timed out waiting for " .. what)
    end
  end
  local function diagnostics()
    local list = {}
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      table.insert(list, { lnum = d.lnum, col = d.col, message = d.message,
        code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code),
        severity = d.severity })
    end
    return list
  end
  -- The 0-based row and column of the first `text` in the buffer.
  local function find(text)
    for row, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      local col = line:find(text, 1, true)
      if col then return row - 1, col - 1 end
    end
    error(text .. " is not in the buffer")
  end
  local function at(text, shift)
    local row, col = find(text)
    vim.api.nvim_win_set_cursor(0, { row + 1, col + (shift or 0) })
    return vim.lsp.util.make_position_params()
  end
  local function ask(method, params)
    local answers = vim.lsp.buf_request_sync(buf, method, params, 10000)
    for _, a in pairs(answers or {}) do
      if a.error then error(method .. ": " .. vim.inspect(a.error)) end
      return a.result
    end
    error("no answer to " .. method)
  end

  wait("the client", function() return #vim.lsp.buf_get_clients(buf) > 0 end)
  wait("diagnostics", function() return #vim.diagnostic.get(buf) > 0 end)
  out.diagnostics = diagnostics()

  local hover = ask("textDocument/hover", at("function", 2))
  out.hover_field = hover and hover.contents.value
  hover = ask("textDocument/hover", at("staff", 1))
  out.hover_let = hover and hover.contents.value

  local def = ask("textDocument/definition", at("staff", 1))
  out.definition = def and def[1]

  -- The quick fix for the misspelt field, applied as the editor applies it.
  local row, col = find("departmnt")
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(),
    range = { start = { line = row, character = col }, ["end"] = { line = row, character = col + 9 } },
    context = { diagnostics = {} },
  }
  local actions = ask("textDocument/codeAction", params) or {}
  out.actions = {}
  for _, a in ipairs(actions) do table.insert(out.actions, a.title) end
  if actions[1] then
    vim.lsp.util.apply_workspace_edit(actions[1].edit, "utf-16")
  end
  wait("the fix to clear the error", function() return #vim.diagnostic.get(buf) == 0 end)
  out.after_fix = vim.api.nvim_buf_get_lines(buf, 0, -1, false)

  -- Typing a new condition: completion after `person.`.
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_buf_set_lines(buf, last, last, false, { "when person." })
  vim.api.nvim_win_set_cursor(0, { last + 1, #"when person." })
  local items = ask("textDocument/completion", vim.lsp.util.make_position_params())
  out.completion = {}
  for _, i in ipairs(items.items or items) do table.insert(out.completion, i.label) end
  wait("a syntax error for the half line", function() return #vim.diagnostic.get(buf) > 0 end)
  out.half_line = diagnostics()
  vim.api.nvim_buf_set_lines(buf, last, last + 1, false, {})
  wait("the half line's error to clear", function() return #vim.diagnostic.get(buf) == 0 end)

  -- Formatting, as `stroom fmt` would write the file.
  vim.api.nvim_buf_set_lines(buf, 0, 0, false, { "when   department==\"HR\"   grant group \"GG-HR\"" })
  if vim.lsp.buf.format then
    vim.lsp.buf.format({ timeout_ms = 10000 })
  else
    vim.lsp.buf.formatting_sync(nil, 10000)
  end
  out.formatted = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end)

finish(not ok and tostring(err) or nil)
