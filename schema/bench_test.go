package schema

import (
	"runtime"
	"testing"

	"github.com/lvsctl/lvsctl/internal/gen"
)

// BenchmarkLoad loads a generated cluster of 5,000 services with 20 real
// servers each (100,000 destinations, 6.5 MB of CUE) through the plain-data
// path, and reports the heap it holds at the end as held-MB.
func BenchmarkLoad(b *testing.B) {
	benchmarkLoad(b, 5000, 20, false)
}

// BenchmarkLoadEvaluated loads the same cluster through the CUE evaluator,
// the path a package with imports, references or comprehensions takes.
func BenchmarkLoadEvaluated(b *testing.B) {
	benchmarkLoad(b, 5000, 20, true)
}

func benchmarkLoad(b *testing.B, services, rs int, evaluated bool) {
	dir := b.TempDir()
	if _, err := gen.Write(dir, services, rs); err != nil {
		b.Fatal(err)
	}
	theValidator() // compiled once per process, not per load
	b.ReportAllocs()
	var l *Loaded
	for b.Loop() {
		var err error
		if l, err = loadDir(dir, Limits{}, evaluated); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapAlloc)/(1<<20), "held-MB")
	if n := len(l.Cluster.Directors["lb"].Services); n != services {
		b.Fatalf("loaded %d services, want %d", n, services)
	}
}
