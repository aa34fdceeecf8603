// Package vmlab runs test scenarios inside a small virtual machine that boots
// a stock Debian kernel with IPVS, since the development and CI machines'
// own kernel has no IPVS and loads no modules.
//
// Run boots qemu (software emulation) with an initramfs made of two
// concatenated cpio archives: a base part, built once and cached, holding
// busybox, the kernel's network modules, ipvsadm, iproute2's ip and nft with
// their libraries and /init; and a small per-run part holding the scenario's
// script, files and static binaries. /init loads the asked modules, runs the
// script, and writes its stdout, stderr, exit status and everything under
// /out as one tar stream onto a raw second disk, which Run reads once qemu
// has exited. The serial console is kept only as a log.
//
// scripts/vmlab-deps installs qemu, busybox-static, kmod, ipvsadm, iproute2
// and nftables, and unpacks the guest kernel into the cache folder
// ${LVSCTL_VMLAB_CACHE:-/var/cache/lvsctl-vmlab}.
package vmlab

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scenario is one boot of the VM: what to load, what to run and what to put
// into the guest.
type Scenario struct {
	// Name identifies the scenario in errors and logs.
	Name string
	// Script is run by busybox sh in the guest as root, in /, after the
	// modules are loaded. Tools: busybox at /bin, /sbin/ipvsadm, /sbin/ip
	// (iproute2; the bare name ip is made to mean it too), /sbin/nft, and the
	// Binaries at /bin/<name>. Files written under /out come back in
	// Result.Files.
	Script string
	// Binaries maps a guest name (put at /bin/<name>) to the host path of a
	// statically linked program, such as one from BuildStatic.
	Binaries map[string]string
	// Files maps absolute guest paths to contents (mode 0644), outside
	// /proc, /sys, /dev and /run (mounted over at boot) and /vmlab.
	Files map[string][]byte
	// Modules are loaded with modprobe before the script; a module that
	// fails to load makes Run fail. Nil means DefaultModules; the kernel
	// also loads modules on demand (for example the bridge module).
	Modules []string
	// Timeout bounds the whole boot, run and power-off on a quiet machine;
	// 0 means 60s. Run multiplies it by Slowdown, the lab's measured
	// slowness on this machine now.
	Timeout time.Duration
	// MemoryMB is the guest's memory; 0 means 512.
	MemoryMB int
	// Disk is the host path of a raw disk image that persists from one Run
	// to the next, as a machine's own disk survives its reboots; "" means
	// none. Run creates it, sparse and DiskSize large, when it is missing.
	// The guest sees it as /dev/vdb (the results disk is /dev/vda), as it
	// is: /init neither formats nor mounts it. BootShell's persist_mount
	// formats it on first use and mounts it over the paths lvsctl persists
	// to. Two Runs must not share one Disk at the same time.
	Disk string
	// Tools are optional programs the guest gets, by name: "keepalived"
	// (at /usr/sbin/keepalived, with its libraries).
	Tools []string
}

// Result is what came back from a scenario that ran to its end.
type Result struct {
	// ExitCode is the script's exit status.
	ExitCode int
	// Stdout and Stderr are the script's output.
	Stdout, Stderr string
	// Files holds every regular file under the guest's /out, by path
	// relative to /out (such as "stats.json" or "sub/x").
	Files map[string][]byte
	// Duration is the time from starting qemu to its exit.
	Duration time.Duration
	// Console is the guest's serial console (kernel messages, and the
	// script's output as it ran), for diagnosing failures.
	Console string
}

// DefaultModules are loaded when a Scenario names none: IPVS with every
// scheduler this kernel has, veth, dummy, ipip and nf_tables.
var DefaultModules = []string{
	"ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_mh",
	"veth", "dummy", "ipip", "nf_tables",
}

const (
	qemuBinary     = "qemu-system-x86_64"
	defaultTimeout = 60 * time.Second
	resultsSize    = 1 << 30 // sparse results disk: the most /out may hold
	// DiskSize is the size of a persistent disk Run creates (Scenario.Disk).
	DiskSize    = 64 << 20
	installHint = "run scripts/vmlab-deps as root to install it"
)

// cacheDir is where scripts/vmlab-deps put the kernel and where the base
// archive is cached.
func cacheDir() string {
	if d := os.Getenv("LVSCTL_VMLAB_CACHE"); d != "" {
		return d
	}
	return "/var/cache/lvsctl-vmlab"
}

// Available reports whether Run can work on this machine: nil, or an error
// naming everything that is missing and the script that installs it.
func Available() error {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		return fmt.Errorf("vmlab: the VM lab runs on linux/amd64 only, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	var missing []string
	for _, name := range []string{qemuBinary, "ipvsadm", "ip", "nft", "depmod", "ldd"} {
		if _, err := lookTool(name); err != nil {
			missing = append(missing, name)
		}
	}
	if p, err := lookTool("busybox"); err != nil {
		missing = append(missing, "busybox (static)")
	} else if ok, _ := isStatic(p); !ok {
		missing = append(missing, "a static busybox ("+p+" is dynamically linked: package busybox-static)")
	}
	if _, err := findKernel(); err != nil {
		missing = append(missing, "the guest kernel ("+err.Error()+")")
	}
	if len(missing) > 0 {
		return fmt.Errorf("vmlab: the VM lab cannot run here: missing %s; %s",
			strings.Join(missing, ", "), installHint)
	}
	return nil
}

// Run boots the VM, runs the scenario and returns its result. A script that
// exits non-zero is a Result, not an error; an error means the scenario
// could not be run to its end (missing lab, failed modprobe, timeout, a
// guest that wrote no results) and carries the end of the console log.
func Run(ctx context.Context, s Scenario) (*Result, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	k, err := findKernel()
	if err != nil {
		return nil, err
	}
	base, applets, err := ensureBase(k)
	if err != nil {
		return nil, fmt.Errorf("vmlab: %w", err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	slow := Slowdown()
	deadline := time.Duration(float64(timeout) * slow)
	return boot(ctx, s, k, base, applets, deadline, fmt.Sprintf("Timeout %s × lab slowdown %.2f", timeout, slow))
}

// boot runs one scenario with a fixed deadline; why says how it was chosen.
func boot(ctx context.Context, s Scenario, k *kernel, base string, applets []string, deadline time.Duration, why string) (*Result, error) {
	work, err := os.MkdirTemp("", "vmlab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	initrd := filepath.Join(work, "initrd")
	if err := writeInitrd(initrd, base, s, applets); err != nil {
		return nil, fmt.Errorf("vmlab %s: %w", s.Name, err)
	}
	results := filepath.Join(work, "results.img")
	if err := os.WriteFile(results, nil, 0o600); err != nil {
		return nil, err
	}
	if err := os.Truncate(results, resultsSize); err != nil {
		return nil, err
	}

	// The results disk comes first, so the guest names it /dev/vda and the
	// persistent disk /dev/vdb; the serial numbers let /init check that.
	drives := []string{"-drive", "file=" + results + ",format=raw,if=none,id=results,cache=unsafe",
		"-device", "virtio-blk-pci,drive=results,serial=vmlab-results"}
	if s.Disk != "" {
		if err := ensureDisk(s.Disk); err != nil {
			return nil, fmt.Errorf("vmlab %s: %w", s.Name, err)
		}
		// cache=unsafe drops only the guest's flushes: what the guest
		// wrote is in the host's page cache when qemu exits, which is
		// all the next Run needs.
		drives = append(drives, "-drive", "file="+s.Disk+",format=raw,if=none,id=disk,cache=unsafe",
			"-device", "virtio-blk-pci,drive=disk,serial=vmlab-disk")
	}

	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	qemu, _ := lookTool(qemuBinary)
	cmd := exec.CommandContext(ctx, qemu, append([]string{
		"-m", strconv.Itoa(cmp.Or(s.MemoryMB, 512)), "-smp", "2", "-cpu", "max",
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", k.vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet panic=-1"}, drives...)...)
	var console bytes.Buffer
	cmd.Stdout, cmd.Stderr = &console, &console
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	r := &Result{Duration: time.Since(start), Console: console.String(), Files: map[string][]byte{}}
	switch {
	case ctx.Err() != nil:
		return nil, failure(s, r, fmt.Sprintf("no end within %s (%s; %v)", deadline.Round(10*time.Millisecond), why, ctx.Err()))
	case runErr != nil:
		return nil, failure(s, r, "qemu: "+runErr.Error())
	}
	if err := readResults(results, r); err != nil {
		return nil, failure(s, r, err.Error())
	}
	return r, nil
}

// ensureDisk creates a missing persistent disk image: sparse, DiskSize
// large, unformatted.
func ensureDisk(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("disk %s is not a regular file", p)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the disk: %w", err)
	}
	if err := f.Truncate(DiskSize); err != nil {
		f.Close()
		os.Remove(p)
		return fmt.Errorf("creating the disk: %w", err)
	}
	return f.Close()
}

// failure makes Run's error: what went wrong and the end of the console.
func failure(s Scenario, r *Result, what string) error {
	c := r.Console
	if len(c) > 4000 {
		c = "..." + c[len(c)-4000:]
	}
	return fmt.Errorf("vmlab scenario %q: %s after %s; console:\n%s", s.Name, what, r.Duration.Round(time.Millisecond), c)
}

// hiddenDirs are guest paths a scenario's Files may not use.
var hiddenDirs = []string{"proc", "sys", "dev", "run", "init", "vmlab"}

var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// writeInitrd writes the base archive followed by the scenario's own
// uncompressed archive into one file.
func writeInitrd(dst, base string, s Scenario, applets []string) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	in, err := os.Open(base)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	in.Close()
	if err != nil {
		return err
	}

	c := newCpioWriter(out)
	for _, d := range []string{"/bin", "/vmlab", "/out"} {
		c.dirs[d] = true // in the base archive already
	}
	isApplet := map[string]bool{}
	for _, a := range applets {
		isApplet[path.Base(a)] = true
	}
	// busybox sh runs its own applets before looking at PATH: make the
	// real programs win for the names they share.
	prologue := "# vmlab: full programs before busybox applets of the same name\nip() { /sbin/ip \"$@\"; }\n"
	for _, name := range sortedKeys(s.Binaries) {
		host := s.Binaries[name]
		if name == "" || strings.ContainsAny(name, "/\x00") {
			return fmt.Errorf("binary name %q: want a plain file name", name)
		}
		if ok, err := isStatic(host); err != nil {
			return fmt.Errorf("binary %s: %v", name, err)
		} else if !ok {
			return fmt.Errorf("binary %s (%s) is dynamically linked; build it with CGO_ENABLED=0 (BuildStatic does)", name, host)
		}
		c.hostFile("/bin/"+name, host)
		if isApplet[name] && shellName.MatchString(name) && name != "ip" {
			prologue += fmt.Sprintf("%s() { /bin/%s \"$@\"; }\n", name, name)
		}
	}
	for _, tool := range s.Tools {
		files, err := toolFiles(tool)
		if err != nil {
			return err
		}
		for _, guest := range sortedKeys(files) {
			c.hostFile(guest, files[guest])
		}
	}
	for _, p := range sortedKeys(s.Files) {
		if !path.IsAbs(p) || path.Clean(p) == "/" {
			return fmt.Errorf("file %q: want an absolute guest path", p)
		}
		if under(strings.TrimPrefix(path.Clean(p), "/"), hiddenDirs) {
			return fmt.Errorf("file %q: /init mounts over /proc, /sys, /dev and /run, and /init and /vmlab are its own", p)
		}
		c.file(p, 0o644, s.Files[p])
	}
	mods := s.Modules
	if mods == nil {
		mods = DefaultModules
	}
	c.file("/vmlab/modules", 0o644, []byte(strings.Join(mods, "\n")+"\n"))
	if s.Disk != "" {
		c.file("/vmlab/disk", 0o644, []byte("/dev/vdb\n")) // /init waits for it
	}
	c.file("/vmlab/script", 0o755, []byte(prologue+"# scenario "+strconv.Quote(s.Name)+"\n"+s.Script+"\n"))
	if err := c.close(); err != nil {
		return err
	}
	return out.Close()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// readResults reads the tar stream the guest wrote onto the results disk.
func readResults(img string, r *Result) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	meta := map[string]string{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the results disk: %v", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("reading %s from the results disk: %v", h.Name, err)
		}
		name := path.Clean(h.Name)
		if rel, ok := strings.CutPrefix(name, "out/"); ok {
			r.Files[rel] = data
		} else if m, ok := strings.CutPrefix(name, "run/vmlab/"); ok {
			meta[m] = string(data)
		}
	}
	if e, ok := meta["setup-error"]; ok {
		return errors.New(strings.TrimSpace(e))
	}
	status, ok := meta["status"]
	if !ok {
		return errors.New("the guest wrote no exit status (no results, or the script did not end)")
	}
	code, err := strconv.Atoi(strings.TrimSpace(status))
	if err != nil {
		return fmt.Errorf("bad exit status %q from the guest", status)
	}
	r.ExitCode, r.Stdout, r.Stderr = code, meta["stdout"], meta["stderr"]
	return nil
}
