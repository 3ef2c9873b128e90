# Turn IN (a text file) into OUT, a C file defining
#   const char default_policy_yaml[]; const unsigned long default_policy_yaml_len;
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* Generated from policies/default.yaml by emulator/embed.cmake. */\n"
	"const char default_policy_yaml[] = {${bytes} 0x00};\n"
	"const unsigned long default_policy_yaml_len = ${len};\n")
