-- the module's table raises (an object that raises) on any field read
return setmetatable({}, {
  __index = function()
    error(setmetatable({}, { __index = function() error("boom") end }))
  end,
})
