-- the top level raises an error object whose __index raises
error(setmetatable({}, { __index = function() error("boom") end }))
