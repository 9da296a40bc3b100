-- run and plan raise an error object that fights back when inspected
local function hostile()
  return setmetatable({}, { __index = function() error("boom") end })
end
return {
  name = "hostile.evil",
  summary = "raises an error object whose __index raises",
  params = {},
  outputs = {},
  effect = "writes",
  run = function() error(hostile()) end,
  plan = function() error(hostile()) end,
}
