package vmlab

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// The lab's speed is measured once per process with a calibration boot: the
// default modules loaded and a fixed shell loop run in the guest, timed from
// starting qemu to its exit. On the project's 2-core machine that boot
// takes about calibrationReference when the machine is quiet (4.75 s was the
// fastest of repeated runs there with a load of 1.7; 9 to 20 s while other
// VMs and builds ran). Slowdown is how many times longer it takes here and
// now.
const (
	calibrationReference = 4500 * time.Millisecond
	calibrationLoop      = 20000 // iterations of a busybox sh loop: about 1 s of guest CPU
	calibrationDeadline  = 5 * time.Minute
	// SlowdownEnv, when set to a number, is used as the slowdown instead of
	// measuring it (values below 1 count as 1).
	SlowdownEnv = "LVSCTL_VMLAB_SLOWDOWN"
)

var (
	slowOnce sync.Once
	slowF    float64
	slowWhy  string
)

// Slowdown is the factor Run multiplies every Scenario.Timeout by: how many
// times slower than the reference machine this machine runs the guest, at
// least 1. It is measured once per process, the first time it is needed
// (a calibration boot of a few seconds), or taken from $LVSCTL_VMLAB_SLOWDOWN.
// Tests use it to scale bounds they check inside the guest, too.
func Slowdown() float64 {
	slowOnce.Do(func() { slowF, slowWhy = measureSlowdown() })
	return slowF
}

// SlowdownReport says how Slowdown was found, for logs.
func SlowdownReport() string {
	Slowdown()
	return slowWhy
}

// Scale multiplies a bound by Slowdown.
func Scale(d time.Duration) time.Duration {
	return time.Duration(float64(d) * Slowdown())
}

func measureSlowdown() (float64, string) {
	if v := os.Getenv(SlowdownEnv); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && f > 0 {
			f = max(f, 1)
			return f, fmt.Sprintf("lab slowdown %.2f from $%s", f, SlowdownEnv)
		}
		fmt.Fprintf(os.Stderr, "vmlab: ignoring $%s=%q: not a positive number\n", SlowdownEnv, v)
	}
	d, err := calibrate()
	if err != nil {
		// The lab cannot boot at all (Run will say why), or did not end
		// within the calibration deadline: then it is at least that slow.
		f := float64(calibrationDeadline) / float64(calibrationReference)
		if d < calibrationDeadline {
			f = 1
		}
		return f, fmt.Sprintf("lab slowdown %.2f: the calibration boot failed after %s: %v", f, d.Round(time.Millisecond), err)
	}
	f := max(1, float64(d)/float64(calibrationReference))
	return f, fmt.Sprintf("lab slowdown %.2f: the calibration boot took %s (%s on the reference machine)",
		f, d.Round(time.Millisecond), calibrationReference)
}

// calibrationScenario is the boot that is timed.
func calibrationScenario() Scenario {
	return Scenario{
		Name:   "calibration",
		Script: fmt.Sprintf("i=0; while [ $i -lt %d ]; do i=$((i+1)); done; echo $i", calibrationLoop),
	}
}

// calibrate times one calibration boot.
func calibrate() (time.Duration, error) {
	if err := Available(); err != nil {
		return 0, err
	}
	k, err := findKernel()
	if err != nil {
		return 0, err
	}
	base, applets, err := ensureBase(k)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	r, err := boot(context.Background(), calibrationScenario(), k, base, applets, calibrationDeadline, "the calibration boot's own deadline")
	if err != nil {
		return time.Since(start), err
	}
	if r.ExitCode != 0 || r.Stdout != strconv.Itoa(calibrationLoop)+"\n" {
		return r.Duration, fmt.Errorf("calibration boot: exit %d, output %q", r.ExitCode, r.Stdout)
	}
	return r.Duration, nil
}
