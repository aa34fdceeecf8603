package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeSSH writes an ssh stand-in that records its arguments and runs the
// remote command here, with an optional fake uname first in PATH.
func fakeSSH(t *testing.T, uname string) (prog, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	prog = filepath.Join(dir, "ssh")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + log + "\nfor last; do :; done\n"
	if uname != "" {
		bin := filepath.Join(dir, "bin")
		os.Mkdir(bin, 0o755)
		os.WriteFile(filepath.Join(bin, "uname"), []byte("#!/bin/sh\necho "+uname+"\n"), 0o755)
		script += "PATH=" + bin + ":$PATH\n"
	}
	script += "exec sh -c \"$last\"\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, log
}

// The agent is uploaded once, to a path named by its hash, and started from
// there; the second start finds it.
func TestSSHUploadsOnceByHash(t *testing.T) {
	exe := lvsctlBinary(t)
	prog, log := fakeSSH(t, "")
	bin := filepath.Join(t.TempDir(), "bin")
	s := SSH{Address: "rs1.example", User: "root", Port: 2222, Exe: exe, Command: prog, BinDir: bin, StateDir: t.TempDir()}
	for i := range 2 {
		c, err := s.Start(context.Background(), "rs1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Gather(GatherRequest{Inventory: true}); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		c.Close()
	}
	b, _ := os.ReadFile(exe)
	sum := sha256.Sum256(b)
	uploaded, err := os.ReadFile(filepath.Join(bin, "lvsctl-"+hex.EncodeToString(sum[:12])))
	if err != nil || string(uploaded) != string(b) {
		t.Fatalf("uploaded agent: %v (%d of %d bytes)", err, len(uploaded), len(b))
	}
	calls, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	if n := strings.Count(string(calls), "cat >"); n != 1 || len(lines) != 5 {
		t.Errorf("ssh calls (want probe, upload, agent, probe, agent):\n%s", calls)
	}
	for _, l := range lines {
		// BatchMode, ssh's own connect bound, and keepalives that notice a
		// dead peer within the request timeout (30s: every 3s, 3 missed).
		if !strings.HasPrefix(l, "-o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=3 -o ServerAliveCountMax=3 -p 2222 -l root -- rs1.example ") {
			t.Errorf("ssh call %q", l)
		}
		if strings.Contains(l, "StrictHostKeyChecking") || strings.Contains(l, "UserKnownHostsFile") {
			t.Errorf("lvsctl must not touch host key checking: %q", l)
		}
	}
}

// A host of another architecture is refused before anything is uploaded.
func TestSSHOtherArchitecture(t *testing.T) {
	prog, log := fakeSSH(t, "Linux aarch64")
	exe := filepath.Join(t.TempDir(), "lvsctl")
	os.WriteFile(exe, []byte("not really lvsctl"), 0o755)
	_, err := SSH{Address: "arm1", Exe: exe, Command: prog, BinDir: filepath.Join(t.TempDir(), "bin")}.Start(context.Background(), "arm1")
	if err == nil || !strings.Contains(err.Error(), "host arm1 is linux/arm64") || !strings.Contains(err.Error(), "hosts.arm1.agentPath") {
		t.Fatalf("got %v", err)
	}
	if calls, _ := os.ReadFile(log); strings.Contains(string(calls), "cat >") {
		t.Errorf("uploaded anyway:\n%s", calls)
	}
}

// With agentPath, lvsctl uploads nothing and runs that program.
func TestSSHExplicitAgentPath(t *testing.T) {
	exe := lvsctlBinary(t)
	prog, log := fakeSSH(t, "")
	c, err := SSH{Address: "rs1", AgentPath: exe, Command: prog, StateDir: t.TempDir()}.Start(context.Background(), "rs1")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Gather(GatherRequest{Inventory: true}); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(log)
	if strings.Count(string(calls), "\n") != 1 || !strings.Contains(string(calls), exe+" agent --state-dir ") {
		t.Errorf("ssh calls:\n%s", calls)
	}
}

// Strings with shell metacharacters never reach ssh: each is refused first.
func TestSSHRefusesMetacharacters(t *testing.T) {
	prog, log := fakeSSH(t, "")
	pwned := filepath.Join(t.TempDir(), "pwned")
	bad := "$(touch " + pwned + ")"
	for name, s := range map[string]SSH{
		"address":   {Address: bad},
		"user":      {Address: "rs1", User: "root;" + bad},
		"netns":     {Address: "rs1", Netns: "x;" + bad},
		"agentPath": {Address: "rs1", AgentPath: "/usr/bin/lvsctl;" + bad},
		"stateDir":  {Address: "rs1", StateDir: "/tmp/`id`"},
	} {
		s.Command = prog
		if _, err := s.Start(context.Background(), "rs1"); err == nil {
			t.Errorf("%s with metacharacters accepted", name)
		}
	}
	if calls, _ := os.ReadFile(log); len(calls) != 0 {
		t.Errorf("ssh ran:\n%s", calls)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a command in a configuration string ran")
	}
}
