package keepalived

import (
	"strconv"
	"strings"
)

// Flatten describes a keepalived configuration line by line for a plan's
// fields: each setting keyed by the blocks around it and its keyword
// ("virtual_server 192.168.0.10 80 / real_server 192.168.0.101 80 / weight")
// with the rest of its line as the value. A block's opening line is a key of
// its own, with the value "{...}", so a block that comes or goes shows once.
// Comments and blank lines are left out; a key met twice gets " #2". It
// reads any text (a hand-edited file too) and never fails.
func Flatten(text string) map[string]string {
	out := map[string]string{}
	var stack []string
	put := func(k, v string) {
		key := k
		for i := 2; ; i++ {
			if _, dup := out[key]; !dup {
				break
			}
			key = k + " #" + strconv.Itoa(i)
		}
		out[key] = v
	}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(decomment(line))
		if line == "" {
			continue
		}
		for _, part := range splitBraces(line) {
			switch {
			case part == "}":
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
			case strings.HasSuffix(part, "{"):
				head := strings.Join(strings.Fields(strings.TrimSuffix(part, "{")), " ")
				put(strings.Join(append(stack, head), " / "), "{...}")
				stack = append(stack, head)
			default:
				f := strings.Fields(part)
				key := f[0]
				val := strings.Join(f[1:], " ")
				if len(stack) > 0 && strings.HasPrefix(stack[len(stack)-1], "virtual_ipaddress") {
					key, val = part, "present"
				}
				if val == "" {
					val = "set"
				}
				put(strings.Join(append(stack, key), " / "), val)
			}
		}
	}
	return out
}

// splitBraces cuts a line after each "{" and around each "}".
func splitBraces(line string) []string {
	var out []string
	cur := ""
	for _, r := range line {
		switch r {
		case '{':
			out = append(out, strings.TrimSpace(cur+"{"))
			cur = ""
		case '}':
			if s := strings.TrimSpace(cur); s != "" {
				out = append(out, s)
			}
			out = append(out, "}")
			cur = ""
		default:
			cur += string(r)
		}
	}
	if s := strings.TrimSpace(cur); s != "" {
		out = append(out, s)
	}
	return out
}
