# Turn a text file into a C string constant: -DIN= -DOUT= -DSYMBOL=
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
get_filename_component(dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${dir})
file(WRITE ${OUT} "/* generated from ${IN}; do not edit */\nconst char ${SYMBOL}[] = {${bytes} 0x00};\n")
