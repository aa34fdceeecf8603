package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/lvsctl/lvsctl/internal/netnstest"
)

// fakeSSH writes an ssh stand-in that records its arguments (one line per
// call) and runs the remote command here: with an optional fake uname first
// in PATH, after the shell lines pre (such as "umask 077"), through run (by
// default `exec sh -c "$last"`).
func fakeSSH(t *testing.T, uname, pre, run string) (prog, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	prog = filepath.Join(dir, "ssh")
	script := "#!/bin/sh\n{ printf '%s' \"$*\" | tr '\\n' ' '; echo; } >> " + log + "\nfor last; do :; done\n"
	if uname != "" {
		bin := filepath.Join(dir, "bin")
		os.Mkdir(bin, 0o755)
		os.WriteFile(filepath.Join(bin, "uname"), []byte("#!/bin/sh\necho "+uname+"\n"), 0o755)
		script += "PATH=" + bin + ":$PATH\n"
	}
	if run == "" {
		run = `exec sh -c "$last"`
	}
	script += pre + "\n" + run + "\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, log
}

// trustedDir makes a root-owned folder of mode 0755 under /var/lib, outside
// the shared /tmp, so that the remote script's check of every folder up to /
// can pass, and the script is tested whole. It needs root.
func trustedDir(t *testing.T) string {
	t.Helper()
	netnstest.RequireRoot(t)
	b := make([]byte, 6)
	rand.Read(b)
	dir := "/var/lib/lvsctl-test-" + hex.EncodeToString(b)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return dir
}

// sshCalls are the modes of remoteScript that the stand-in was asked to run,
// in order (probe, upload, run).
func sshCalls(t *testing.T, log string) []string {
	t.Helper()
	b, _ := os.ReadFile(log)
	var modes []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if m := regexp.MustCompile(`' lvsctl (\w+) `).FindStringSubmatch(l); m != nil {
			modes = append(modes, m[1])
		} else if l != "" {
			modes = append(modes, "?"+l)
		}
	}
	return modes
}

// gather starts the agent through s and asks it for the inventory.
func gather(s SSH, host string) error {
	c, err := s.Start(context.Background(), host)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Gather(GatherRequest{Inventory: true})
	return err
}

// hashPath is where the SSH transport puts the agent with content b.
func hashPath(dir string, b []byte) (path, sum string) {
	h := sha256.Sum256(b)
	sum = hex.EncodeToString(h[:])
	return dir + "/lvsctl-" + sum[:24], sum
}

// The agent is uploaded once, to a path named by its hash, and started from
// there after the host checked its full SHA-256; the second start finds it.
// The folders the upload creates and the agent are 0755 and root's, and no
// temporary file is left.
func TestSSHUploadsOnceByHash(t *testing.T) {
	root := trustedDir(t)
	exe := lvsctlBinary(t)
	prog, log := fakeSSH(t, "", "", "")
	bin := root + "/lib/bin"
	s := SSH{Address: "rs1.example", User: "root", Port: 2222, Exe: exe, Command: prog, BinDir: bin, StateDir: root + "/state"}
	for i := range 2 {
		if err := gather(s, "rs1"); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
	}
	b, _ := os.ReadFile(exe)
	path, sum := hashPath(bin, b)
	uploaded, err := os.ReadFile(path)
	if err != nil || string(uploaded) != string(b) {
		t.Fatalf("uploaded agent: %v (%d of %d bytes)", err, len(uploaded), len(b))
	}
	for _, p := range []string{root + "/lib", bin, path} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o755 || ownerOf(st) != 0 {
			t.Errorf("%s: %v %v, want 0755 and root's", p, err, st.Mode())
		}
	}
	if ents, _ := os.ReadDir(bin); len(ents) != 1 {
		t.Errorf("bin folder holds %d files, want the agent alone", len(ents))
	}
	if got, want := sshCalls(t, log), []string{"probe", "upload", "run", "probe", "run"}; !slices.Equal(got, want) {
		t.Errorf("ssh calls %q, want %q", got, want)
	}
	calls, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(calls)), "\n")
	for _, l := range lines {
		// BatchMode, ssh's own connect bound, and keepalives that notice a
		// dead peer within the request timeout (30s: every 3s, 3 missed).
		if !strings.HasPrefix(l, "-o BatchMode=yes -o ConnectTimeout=15 -o ServerAliveInterval=3 -o ServerAliveCountMax=3 -p 2222 -l root -- rs1.example sh -c 'set -u ") {
			t.Errorf("ssh call %q", l)
		}
		if strings.Contains(l, "StrictHostKeyChecking") || strings.Contains(l, "UserKnownHostsFile") {
			t.Errorf("lvsctl must not touch host key checking: %q", l)
		}
	}
	if run := lines[2]; !strings.HasSuffix(run, "' lvsctl run - "+path+" "+sum+" agent --state-dir "+root+"/state") {
		t.Errorf("the agent's start does not check the full hash: %q", run)
	}
}

func ownerOf(st os.FileInfo) uint32 {
	return st.Sys().(*syscall.Stat_t).Uid
}

// A bin folder created under umask 077 is still 0755, and so is every folder
// the upload creates above it.
func TestSSHBinDirUnderUmask077(t *testing.T) {
	root := trustedDir(t)
	prog, _ := fakeSSH(t, "", "umask 077", "")
	bin := root + "/a/b/bin"
	if err := gather(SSH{Address: "rs1", Exe: lvsctlBinary(t), Command: prog, BinDir: bin, StateDir: root + "/state"}, "rs1"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(lvsctlBinary(t))
	path, _ := hashPath(bin, b)
	for _, p := range []string{root + "/a", root + "/a/b", bin, path} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v %v, want 0755", p, err, st.Mode())
		}
	}
}

// A file at the agent's hash path whose content is not this lvsctl's is
// refused at the start, not run (the planted script would leave a marker),
// and left where it is for a person to look at.
func TestSSHRefusesWrongAgentAtHashPath(t *testing.T) {
	root := trustedDir(t)
	exe := lvsctlBinary(t)
	prog, log := fakeSSH(t, "", "", "")
	bin := root + "/bin"
	os.Mkdir(bin, 0o755)
	b, _ := os.ReadFile(exe)
	path, sum := hashPath(bin, b)
	marker := root + "/ran"
	planted := []byte("#!/bin/sh\ntouch " + marker + "\n")
	if err := os.WriteFile(path, planted, 0o755); err != nil {
		t.Fatal(err)
	}
	_, plantedSum := hashPath(bin, planted)
	err := gather(SSH{Address: "rs1.example", Exe: exe, Command: prog, BinDir: bin, StateDir: root + "/state"}, "rs1")
	want := "lvsctl refused to run the agent " + path + ": its SHA-256 is " + plantedSum + ", not " + sum + " (the SHA-256 of this lvsctl)"
	if err == nil || !strings.HasPrefix(err.Error(), "host rs1: ") || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v\nwant host rs1 and %q", err, want)
	}
	t.Log(err)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the planted file ran")
	}
	if got, _ := os.ReadFile(path); string(got) != string(planted) {
		t.Error("the planted file was changed")
	}
	if got, want := sshCalls(t, log), []string{"probe", "run"}; !slices.Equal(got, want) {
		t.Errorf("ssh calls %q, want %q", got, want)
	}
}

// A bin folder, a folder above it, or an agent that someone other than root
// could change is refused by the probe, before anything runs or is uploaded,
// with how to fix it; lvsctl changes none of it.
func TestSSHRefusesUnsafeBinDirOrAgent(t *testing.T) {
	exe := lvsctlBinary(t)
	b, _ := os.ReadFile(exe)
	for _, c := range []struct {
		name  string
		setup func(root, bin, path string) error
		want  string // with ROOT, BIN and AGENT for the paths
	}{
		{"bin folder writable by others", func(root, bin, path string) error { return os.Chmod(bin, 0o777) },
			"BIN is writable by group or others (mode 777), who could replace the agent: fix: chmod go-w BIN"},
		{"bin folder writable by group", func(root, bin, path string) error { return os.Chmod(bin, 0o775) },
			"BIN is writable by group or others (mode 775)"},
		{"bin folder shared like /tmp", func(root, bin, path string) error { return os.Chmod(bin, 0o777|os.ModeSticky) },
			"BIN is a shared folder (mode 1777, like /tmp) where anyone can add files: keep the agent elsewhere"},
		{"folder above writable", func(root, bin, path string) error { return os.Chmod(root, 0o777) },
			"ROOT is writable by group or others (mode 777)"},
		{"bin folder owned by another user", func(root, bin, path string) error { return os.Chown(bin, 4242, 0) },
			"BIN is owned by uid 4242, not by root: only root may be able to change what runs as root; fix: chown root BIN"},
		{"bin folder a symbolic link", func(root, bin, path string) error {
			if err := os.Rename(bin, root+"/real"); err != nil {
				return err
			}
			return os.Symlink(root+"/real", bin)
		}, "BIN is a symbolic link: name the real path"},
		{"bin folder absent, folder above writable", func(root, bin, path string) error {
			os.RemoveAll(bin)
			return os.Chmod(root, 0o757)
		}, "ROOT is writable by group or others (mode 757)"},
		{"agent writable by others", func(root, bin, path string) error { return os.Chmod(path, 0o757) },
			"AGENT is writable by group or others (mode 757)"},
		{"agent writable by group", func(root, bin, path string) error { return os.Chmod(path, 0o775) },
			"AGENT is writable by group or others (mode 775)"},
		{"agent owned by another user", func(root, bin, path string) error { return os.Chown(path, 4242, 4242) },
			"AGENT is owned by uid 4242, not by root"},
		{"agent a symbolic link", func(root, bin, path string) error {
			if err := os.Rename(path, bin+"/real"); err != nil {
				return err
			}
			return os.Symlink(bin+"/real", path)
		}, "AGENT is a symbolic link"},
		{"agent a folder", func(root, bin, path string) error {
			os.Remove(path)
			return os.Mkdir(path, 0o755)
		}, "AGENT is not a regular file"},
		{"agent not executable", func(root, bin, path string) error { return os.Chmod(path, 0o644) },
			"AGENT is not executable: fix: chmod 0755 AGENT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := trustedDir(t)
			bin := root + "/bin"
			os.Mkdir(bin, 0o755)
			path, _ := hashPath(bin, b)
			// The real agent, so only the owners and modes are wrong.
			if err := os.WriteFile(path, b, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := c.setup(root, bin, path); err != nil {
				t.Fatal(err)
			}
			before := listing(t, root)
			prog, log := fakeSSH(t, "", "", "")
			err := gather(SSH{Address: "rs1.example", Exe: exe, Command: prog, BinDir: bin, StateDir: root + "/state"}, "rs1")
			want := "host rs1 (rs1.example): lvsctl refused to run the agent " + path + ": " +
				strings.NewReplacer("ROOT", root, "BIN", bin, "AGENT", path).Replace(c.want)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("got %v\nwant %s", err, want)
			}
			if got, want := sshCalls(t, log), []string{"probe"}; !slices.Equal(got, want) {
				t.Errorf("ssh calls %q, want %q (nothing uploaded or run)", got, want)
			}
			if after := listing(t, root); after != before {
				t.Errorf("lvsctl changed the host's files:\n%s\nthen:\n%s", before, after)
			}
		})
	}
}

// listing is every file under dir with its mode and owner.
func listing(t *testing.T, dir string) string {
	t.Helper()
	var out strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		out.WriteString(p + " " + fi.Mode().String() + " " + strconv.Itoa(int(ownerOf(fi))) + "\n")
		return nil
	})
	return out.String()
}

// An agentPath that someone other than root could change is refused on the
// host in the same shell that would exec it, so it does not run (the script
// there would leave a marker; the last case shows that it does when the path
// is sound).
func TestSSHRefusesUnsafeAgentPath(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup func(root string) (agentPath string, err error)
		want  string // "" when the script must run; ROOT for the folder
	}{
		{"folder writable by everyone", func(root string) (string, error) {
			return root + "/open/lvsctl", os.Chmod(root+"/open", 0o777)
		}, "ROOT/open is writable by group or others (mode 777)"},
		{"shared folder like /tmp", func(root string) (string, error) {
			return root + "/open/lvsctl", os.Chmod(root+"/open", 0o777|os.ModeSticky)
		}, "ROOT/open is a shared folder (mode 1777, like /tmp)"},
		{"agent writable by group", func(root string) (string, error) {
			return root + "/open/lvsctl", os.Chmod(root+"/open/lvsctl", 0o775)
		}, "ROOT/open/lvsctl is writable by group or others (mode 775)"},
		{"agent owned by another user", func(root string) (string, error) {
			return root + "/open/lvsctl", os.Chown(root+"/open/lvsctl", 4242, 0)
		}, "ROOT/open/lvsctl is owned by uid 4242, not by root"},
		{"agent through a symbolic link", func(root string) (string, error) {
			return root + "/lvsctl-link", os.Symlink(root+"/open/lvsctl", root+"/lvsctl-link")
		}, "ROOT/lvsctl-link is a symbolic link"},
		{"sound", func(root string) (string, error) { return root + "/open/lvsctl", nil }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := trustedDir(t)
			marker := root + "/ran"
			os.Mkdir(root+"/open", 0o755)
			if err := os.WriteFile(root+"/open/lvsctl", []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			agentPath, err := c.setup(root)
			if err != nil {
				t.Fatal(err)
			}
			prog, log := fakeSSH(t, "", "", "")
			err = gather(SSH{Address: "rs1", AgentPath: agentPath, Command: prog, StateDir: root + "/state"}, "rs1")
			_, ranErr := os.Stat(marker)
			if c.want == "" {
				if ranErr != nil {
					t.Fatalf("a sound agentPath did not run: %v", err)
				}
				return
			}
			want := "lvsctl refused to run the agent " + agentPath + ": " + strings.ReplaceAll(c.want, "ROOT", root)
			if err == nil || !strings.HasPrefix(err.Error(), "host rs1: ") || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v\nwant host rs1 and %s", err, want)
			}
			if ranErr == nil {
				t.Error("the refused agentPath ran")
			}
			if got, want := sshCalls(t, log), []string{"run"}; !slices.Equal(got, want) {
				t.Errorf("ssh calls %q, want %q", got, want)
			}
		})
	}
}

// An upload that does not arrive whole (the ssh stand-in passes on only the
// first 64 KiB) is refused by its hash, and leaves no file behind.
func TestSSHFailedUploadLeavesNoTempFile(t *testing.T) {
	root := trustedDir(t)
	prog, log := fakeSSH(t, "", "", `head -c 65536 | sh -c "$last"`)
	bin := root + "/bin"
	b, _ := os.ReadFile(lvsctlBinary(t))
	path, sum := hashPath(bin, b)
	err := gather(SSH{Address: "rs1", Exe: lvsctlBinary(t), Command: prog, BinDir: bin, StateDir: root + "/state"}, "rs1")
	if err == nil || !strings.Contains(err.Error(), "the upload to "+path+" arrived with SHA-256 ") ||
		!strings.Contains(err.Error(), ", not "+sum+"; it was removed") {
		t.Fatalf("got %v", err)
	}
	t.Log(err)
	if ents, err := os.ReadDir(bin); err != nil || len(ents) != 0 {
		t.Errorf("after a failed upload the bin folder holds %v (%v), want nothing", ents, err)
	}
	if got, want := sshCalls(t, log), []string{"probe", "upload"}; !slices.Equal(got, want) {
		t.Errorf("ssh calls %q, want %q", got, want)
	}
}

// A host of another architecture is refused before anything is uploaded.
func TestSSHOtherArchitecture(t *testing.T) {
	prog, log := fakeSSH(t, "Linux aarch64", "", "")
	exe := filepath.Join(t.TempDir(), "lvsctl")
	os.WriteFile(exe, []byte("not really lvsctl"), 0o755)
	// The folder does not exist: the probe checks / alone.
	_, err := SSH{Address: "arm1", Exe: exe, Command: prog, BinDir: "/nonexistent-lvsctl-test/bin"}.Start(context.Background(), "arm1")
	if err == nil || !strings.Contains(err.Error(), "host arm1 is linux/arm64") || !strings.Contains(err.Error(), "hosts.arm1.agentPath") {
		t.Fatalf("got %v", err)
	}
	if got, want := sshCalls(t, log), []string{"probe"}; !slices.Equal(got, want) {
		t.Errorf("ssh calls %q, want %q", got, want)
	}
}

// With agentPath, lvsctl uploads nothing and runs that program, after the
// host checked it in the same shell.
func TestSSHExplicitAgentPath(t *testing.T) {
	root := trustedDir(t)
	b, _ := os.ReadFile(lvsctlBinary(t))
	exe := root + "/lvsctl"
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	prog, log := fakeSSH(t, "", "", "")
	if err := gather(SSH{Address: "rs1", AgentPath: exe, Command: prog, StateDir: root + "/state"}, "rs1"); err != nil {
		t.Fatal(err)
	}
	calls, _ := os.ReadFile(log)
	if got, want := sshCalls(t, log), []string{"run"}; !slices.Equal(got, want) || !strings.HasSuffix(strings.TrimSpace(string(calls)), "' lvsctl run - "+exe+" - agent --state-dir "+root+"/state") {
		t.Errorf("ssh calls %q:\n%s", got, calls)
	}
}

// Strings with shell metacharacters never reach ssh: each is refused first.
// The remote script itself has no single quote, so it cannot end the quoting
// it is sent in.
func TestSSHRefusesMetacharacters(t *testing.T) {
	prog, log := fakeSSH(t, "", "", "")
	pwned := filepath.Join(t.TempDir(), "pwned")
	bad := "$(touch " + pwned + ")"
	for name, s := range map[string]SSH{
		"address":   {Address: bad},
		"zone":      {Address: "fe80::1%" + bad},
		"user":      {Address: "rs1", User: "root;" + bad},
		"netns":     {Address: "rs1", Netns: "x;" + bad},
		"agentPath": {Address: "rs1", AgentPath: "/usr/bin/lvsctl;" + bad},
		"stateDir":  {Address: "rs1", StateDir: "/var/lib/`id`"},
		"binDir":    {Address: "rs1", BinDir: "/var/lib/x;" + bad},
		"shared":    {Address: "rs1", AgentPath: "/tmp/lvsctl"},
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
	if strings.Contains(remoteScript, "'") || strings.Count(remote("run", "-", "/x", "-", "agent"), "'") != 2 {
		t.Error("the remote script contains a single quote")
	}
}
