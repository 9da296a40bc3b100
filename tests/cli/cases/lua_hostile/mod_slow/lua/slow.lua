-- backtracks for hours inside one C call (string.find)
string.find(string.rep("a", 3000), ".-.-.-.-.-.-b")
return { name = "hostile.slow", run = function() end }
