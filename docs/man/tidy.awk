# tidy.awk - scdoc's output, with its paragraph macros where roff wants
# them, so that `mandoc -T lint -W warning` has nothing to say: a .P just
# before .RE moves after it (the blank line between two options stays), and
# a .P right after .TH, .SH or .SS, or right before .SH, .SS, .P or .RS, or
# at the end, goes.  And .nh follows .TH: scdoc's own comes before it, and
# groff's .TH turns hyphenation back on (options and paths would break at
# their hyphens).  Everything else passes unchanged.
{ line[++n] = $0 }
END {
	for (i = 1; i < n; i++)
		if (line[i] == ".P" && line[i + 1] == ".RE") {
			line[i] = ".RE"
			line[i + 1] = ".P"
			i++
		}
	for (i = 1; i <= n; i++) {
		if (line[i] == ".P") {
			prev = i > 1 ? line[i - 1] : ""
			following = i < n ? line[i + 1] : ".SH"
			if (prev ~ /^\.(TH|SH|SS)( |$)/ || following ~ /^\.(SH|SS|P|RS)( |$)/)
				continue
		}
		print line[i]
		if (line[i] ~ /^\.TH /)
			print ".nh"
	}
}
