package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/cue/load"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// schemaOnlyCases are inputs aimed at the edges of the compiled validator:
// kinds it must refuse, defaults it must fill, nested optional structs.
var schemaOnlyCases = map[string]string{
	"float weight":          `directors: lb: services: web: realServers: rs1: weight: 1.5`,
	"null port":             `directors: lb: services: web: port: null`,
	"list for struct":       `hosts: lb: ssh: []`,
	"struct for list":       `directors: lb: services: web: flags: {}`,
	"bool for int":          `directors: lb: services: web: port: true`,
	"huge weight":           `directors: lb: services: web: realServers: rs1: weight: 99999999999`,
	"upper case enum":       `directors: lb: services: web: protocol: "TCP"`,
	"empty persistence":     `directors: lb: services: web: persistence: {}`,
	"empty tunnel":          `directors: lb: services: web: realServers: rs1: tunnel: {}`,
	"unknown tunnel field":  `directors: lb: services: web: realServers: rs1: tunnel: {mtu: 1400}`,
	"ssh defaults":          `hosts: rs1: ssh: address: "rs1.example"`,
	"ssh port zero":         `hosts: rs1: ssh: {address: "rs1.example", port: 0}`,
	"empty ports":           `directors: lb: marks: m: {mark: 1, address: "192.0.2.10", ports: []}`,
	"mark zero":             `directors: lb: marks: m: {mark: 0, address: "192.0.2.10", ports: [80]}`,
	"mark defaults":         `directors: lb: marks: m: {mark: 1, address: "192.0.2.10", ports: [80, 443]}`,
	"sysctl bool":           `hosts: rs1: sysctls: "net.ipv4.ip_forward": true`,
	"sysctl int and string": `hosts: rs1: sysctls: {"net.ipv4.ip_forward": 1, "net.core.somaxconn": "4096"}`,
	"timeouts":              `directors: lb: timeouts: {tcp: 900, udp: 2147484}`,
	"natGateway not list":   `directors: lb: natGateway: "10.0.0.1"`,
	"threshold max":         `directors: lb: services: web: realServers: rs1: {upperThreshold: 4294967295, lowerThreshold: 4294967296}`,
	"flags default":         `directors: lb: services: web: flags: ["sh-port", 1]`,
	"vip prefix":            `directors: lb: vips: "192.0.2.10": prefix: 129`,
	"top level string":      `hosts: "lb"`,
}

// TestValidatorAgreesWithCUE holds the compiled validator to CUE's own
// evaluator: for every bad case, every example and the cases above, unifying
// #Cluster with the package in CUE and validating its data in Go must reject
// the same fields, and where both accept, fill in the same defaults.
func TestValidatorAgreesWithCUE(t *testing.T) {
	dirs := map[string]string{}
	for _, tc := range badCases {
		dirs["bad/"+tc.name] = writeCase(t, tc.files)
	}
	for name, extra := range schemaOnlyCases {
		dirs["edge/"+name] = writeCase(t, map[string]string{"c.cue": base, "x.cue": "package c\n" + extra + "\n"})
	}
	examples, _ := os.ReadDir("../examples")
	for _, e := range examples {
		dirs["example/"+e.Name()] = filepath.Join("../examples", e.Name())
	}
	compared := 0
	for name, dir := range dirs {
		t.Run(name, func(t *testing.T) {
			ctx := cuecontext.New()
			insts := load.Instances([]string{"."}, &load.Config{Dir: dir})
			if insts[0].Err != nil {
				t.Logf("not compared, fails before the schema: %v", insts[0].Err)
				return
			}
			user := ctx.BuildInstance(insts[0])
			js, err := user.MarshalJSON()
			if err != nil {
				t.Logf("not compared, fails before the schema: %v", err)
				return
			}
			compared++

			unified := clusterDef(ctx).Unify(user)
			var cueFields []string
			if err := unified.Validate(cue.Concrete(true)); err != nil {
				for _, p := range fromCUE(err, user) {
					cueFields = append(cueFields, p.Field)
				}
			}
			data, err := valueFromJSON(js)
			if err != nil {
				t.Fatal(err)
			}
			var goFields []string
			for _, p := range theValidator().validate(data, positioner{user}) {
				goFields = append(goFields, p.Field)
			}
			slices.Sort(cueFields)
			slices.Sort(goFields)
			cueFields, goFields = slices.Compact(cueFields), slices.Compact(goFields)
			if diff := cmp.Diff(cueFields, goFields, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("fields with problems (-CUE +validator):\n%s", diff)
			}
			if len(cueFields) > 0 {
				return
			}
			cueJSON, err := unified.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			var fromCUE, fromGo Cluster
			if err := json.Unmarshal(cueJSON, &fromCUE); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data.appendJSON(nil), &fromGo); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromCUE, fromGo, cmpopts.IgnoreUnexported(Host{}, Director{}, VIP{}, MarkGroup{}, Service{}, RealServer{}, Persistence{}, Pair{})); diff != "" {
				t.Errorf("data with defaults (-CUE +validator):\n%s", diff)
			}
		})
	}
	if compared < 60 {
		t.Errorf("compared only %d configurations", compared)
	}
}
