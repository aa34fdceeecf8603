package schema

import (
	"slices"
	"testing"
)

// externallyManaged takes "weight" and "presence", each once; the loader
// names a bad value by file:line and field, on both loading paths.
func TestExternallyManagedRefused(t *testing.T) {
	for _, tc := range []badCase{
		{
			name: "unknown aspect",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: externallyManaged: ["weights"]
`},
			want: []string{`x.cue:2:51: directors.lb.services.web.externallyManaged|"weights" is not allowed: expected one of "weight", "presence"`},
		},
		{
			name: "not a list",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: externallyManaged: "weight"
`},
			want: []string{`x.cue:2:50: directors.lb.services.web.externallyManaged: |`},
		},
		{
			name: "listed twice",
			files: map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: externallyManaged: ["presence", "weight", "presence"]
`},
			want: []string{`x.cue:2:73: directors.lb.services.web.externallyManaged[2]: |"presence" is listed twice`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeCase(t, tc.files)
			checkProblems(t, dir, tc.want)
			t.Run("evaluated", func(t *testing.T) {
				checkProblemsWith(t, dir, tc.want, true)
			})
		})
	}
}

// Loaded, the list reaches the desired service sorted; without it, the
// service has none.
func TestExternallyManagedDerived(t *testing.T) {
	dir := writeCase(t, map[string]string{"c.cue": base, "x.cue": `package c
directors: lb: services: web: externallyManaged: ["weight", "presence"]
`})
	l, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Hosts["lb"].Services[0].ExternallyManaged; !slices.Equal(got, []string{"presence", "weight"}) {
		t.Errorf("externallyManaged %v", got)
	}
	l, err = Load(writeCase(t, map[string]string{"c.cue": base}))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Hosts["lb"].Services[0].ExternallyManaged; got != nil {
		t.Errorf("without the field: %v", got)
	}
}
