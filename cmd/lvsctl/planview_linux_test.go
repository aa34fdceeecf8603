package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal's two ends.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// Colour on a terminal only, and never with --no-color, NO_COLOR or
// TERM=dumb; the plan printed on a terminal has it exactly then.
func TestColors(t *testing.T) {
	master, tty := openPTY(t)
	cases := []struct {
		name, noColor, term string
		flag, want          bool
	}{
		{"terminal", "", "xterm", false, true},
		{"--no-color", "", "xterm", true, false},
		{"NO_COLOR", "1", "xterm", false, false},
		{"TERM=dumb", "", "dumb", false, false},
		{"TERM unset", "", "", false, true},
	}
	p := planCases["warnings"](t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", c.noColor)
			if c.noColor == "" {
				os.Unsetenv("NO_COLOR") // NO_COLOR counts when set and not empty, but be plain
			}
			t.Setenv("TERM", c.term)
			g := &colorGate{Writer: tty, off: c.flag}
			if got := colorsFor(g).on; got != c.want {
				t.Errorf("colorsFor = %v, want %v", got, c.want)
			}
			if c.flag && !colorsFor(tty).on {
				t.Errorf("the terminal itself has no colour: the case proves nothing")
			}
			writePlanText(g, p, "would")
			out := readPTY(t, master)
			if got := strings.Contains(out, "\x1b["); got != c.want || !strings.Contains(out, "Plan:") {
				t.Errorf("escapes in the plan: %v, want %v\n%q", got, c.want, out)
			}
		})
	}
	// Off a terminal: none.
	if colorsFor(&bytes.Buffer{}).on || colorsFor(&colorGate{Writer: &bytes.Buffer{}}).on {
		t.Error("colour off a terminal")
	}
}

// readPTY reads what is waiting on the terminal's master end (written
// before the call), without blocking.
func readPTY(t *testing.T, m *os.File) string {
	t.Helper()
	fd := int(m.Fd())
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	buf := make([]byte, 64<<10)
	for idle := 0; idle < 5; {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			b.Write(buf[:n])
			idle = 0
			continue
		}
		if err != nil && err != unix.EAGAIN {
			t.Fatal(err)
		}
		idle++
		time.Sleep(20 * time.Millisecond)
	}
	return b.String()
}

// Every command that prints a plan or a report takes --no-color.
func TestNoColorFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	if root.PersistentFlags().Lookup("no-color") == nil {
		addColorFlag(root) // until main.go's newRoot does
	}
	for _, args := range [][]string{{"plan"}, {"apply"}, {"drift"}, {"validate", "--show"}} {
		out.Reset()
		errOut.Reset()
		root.SetArgs(append(args, "--no-color", "/nonexistent-lvsctl-dir"))
		err := root.Execute()
		if err == nil || strings.Contains(err.Error(), "unknown flag") || strings.Contains(errOut.String(), "unknown flag") {
			t.Errorf("%v --no-color: %v, %s", args, err, errOut.String())
		}
	}
}
