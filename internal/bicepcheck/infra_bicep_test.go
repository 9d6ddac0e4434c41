package bicepcheck_test

// The checks of infra/main.bicep and infra/bicepconfig.json against the
// vendored Microsoft Graph Bicep types. They live here and not in infra's
// own tests because internal/deptest forbids infra, tests included, to
// import another entrakit package.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/entrakit/entrakit/internal/bicepcheck"
)

var (
	infraDir     = filepath.Join("..", "..", "infra")
	graphTypeDir = filepath.Join(infraDir, "testdata", "msgraph-bicep-types", "v1.0-1.0.0")
	fixturesDir  = filepath.Join(infraDir, "testdata", "bicep")
)

const (
	// graphExtension is the alias main.bicep declares and bicepconfig.json
	// maps to graphExtensionRef, the registry tag the vendored types are of.
	graphExtension    = "microsoftGraphV1"
	graphExtensionRef = "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"
	applicationsType  = "Microsoft.Graph/applications@v1.0"
	manifestFile      = "app-registration.json"
)

var loadGraphTypes = sync.OnceValues(func() (*bicepcheck.Types, error) { return bicepcheck.Load(graphTypeDir) })

func graphTypes(t *testing.T) *bicepcheck.Types {
	t.Helper()
	ts, err := loadGraphTypes()
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// readInfra reads a file of infra/ that CI must see: a missing file fails
// the test with its name, not a skip.
func readInfra(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(infraDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("infra/%s does not exist: the Bicep checks need it (main.bicep provisions the registrations of %s; bicepconfig.json maps %s)", name, manifestFile, graphExtension)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkMainBicep checks a main.bicep: it parses; it declares the Graph
// extension by its bicepconfig alias; it loads the manifest with
// loadJsonContent; it declares applications; and every Microsoft.Graph
// resource sets only properties that exist and are not read-only
// (bicepcheck.CheckResource). ARM resources are not checked.
func checkMainBicep(ts *bicepcheck.Types, src []byte) []string {
	f, err := bicepcheck.ParseBicep(src)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	if !slices.ContainsFunc(f.Extensions, func(e bicepcheck.Extension) bool { return e.Name == graphExtension }) {
		out = append(out, fmt.Sprintf("no `extension %s` declaration: without it Bicep knows no Microsoft.Graph types (bicepconfig.json maps the alias to %s)", graphExtension, graphExtensionRef))
	}
	if !slices.ContainsFunc(f.Calls, loadsManifest) {
		out = append(out, fmt.Sprintf("no loadJsonContent('%s'): the registrations must come from the manifest the dev tenant reads", manifestFile))
	}
	apps := 0
	for _, r := range f.Resources {
		if !strings.HasPrefix(r.Type, "Microsoft.Graph/") {
			continue
		}
		if r.Type == applicationsType && !r.Existing {
			apps++
		}
		for _, p := range ts.CheckResource(r) {
			out = append(out, p.String())
		}
	}
	if apps == 0 {
		out = append(out, "declares no "+applicationsType+" resource")
	}
	return out
}

func loadsManifest(c *bicepcheck.Call) bool {
	if c.Func != "loadJsonContent" && c.Func != "sys.loadJsonContent" || len(c.Args) == 0 {
		return false
	}
	s, ok := c.Args[0].(*bicepcheck.String)
	return ok && !s.Interpolated && s.Value == manifestFile
}

// checkBicepConfig checks that bicepconfig.json maps the alias to the
// extension version whose types are vendored.
func checkBicepConfig(ts *bicepcheck.Types, data []byte) []string {
	var cfg struct {
		Extensions map[string]string `json:"extensions"`
	}
	if err := json.Unmarshal(stripJSONComments(data), &cfg); err != nil {
		return []string{"bicepconfig.json: " + err.Error()}
	}
	var out []string
	if got := cfg.Extensions[graphExtension]; got != graphExtensionRef {
		out = append(out, fmt.Sprintf("bicepconfig.json: extensions.%s = %q, want %q", graphExtension, got, graphExtensionRef))
	}
	if !strings.HasSuffix(graphExtensionRef, ":"+ts.Version) {
		out = append(out, fmt.Sprintf("the vendored types are version %s, not the one %s names", ts.Version, graphExtensionRef))
	}
	return out
}

// stripJSONComments blanks // and /* */ comments outside strings, as
// bicepconfig.json may have them (trailing commas are not handled).
func stripJSONComments(b []byte) []byte {
	out := slices.Clone(b)
	inString := false
	for i := 0; i < len(out); i++ {
		switch {
		case inString && out[i] == '\\':
			i++
		case out[i] == '"':
			inString = !inString
		case inString:
		case out[i] == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case out[i] == '/' && i+1 < len(out) && out[i+1] == '*':
			for ; i < len(out) && !(out[i] == '*' && i+1 < len(out) && out[i+1] == '/'); i++ {
				if out[i] != '\n' {
					out[i] = ' '
				}
			}
			if i+1 < len(out) {
				out[i], out[i+1] = ' ', ' '
				i++
			}
		}
	}
	return out
}

func TestMainBicep(t *testing.T) {
	ts := graphTypes(t)
	for _, p := range checkMainBicep(ts, readInfra(t, "main.bicep")) {
		t.Errorf("infra/main.bicep: %s", p)
	}
}

func TestBicepConfig(t *testing.T) {
	ts := graphTypes(t)
	for _, p := range checkBicepConfig(ts, readInfra(t, "bicepconfig.json")) {
		t.Errorf("infra/%s", p)
	}
}

// TestMainBicepCheckFails runs checkMainBicep over the fixtures in
// infra/testdata/bicep: good.bicep passes, each other one fails for the
// reason its first line gives.
func TestMainBicepCheckFails(t *testing.T) {
	ts := graphTypes(t)
	want := map[string][]string{
		"good.bicep":                    nil,
		"unknown-property.bicep":        {`line 10: apps.web.redirectUri: unknown property: MicrosoftGraphWebApplication has no property "redirectUri" (did you mean "redirectUris"?)`},
		"read-only-property.bicep":      {"line 8: apps.appId: read-only property"},
		"wrong-value-type.bicep":        {`line 9: cli.isFallbackPublicClient: wrong type: want bool, got string "yes"`},
		"lambda-unknown-property.bicep": {`line 11: apps.appRoles.name: unknown property: MicrosoftGraphAppRole has no property "name"`},
		"spread.bicep":                  {"line 7: apps: unchecked: a spread"},
		"existing-not-identifier.bicep": {"line 8: msGraph.displayName: not an identifier"},
		"unknown-resource-type.bicep":   {"line 6: apps: unknown resource type: Microsoft.Graph/applications@beta", "declares no " + applicationsType},
		"no-extension.bicep":            {"no `extension microsoftGraphV1` declaration"},
		"no-manifest.bicep":             {"no loadJsonContent('app-registration.json')"},
		"syntax-error.bicep":            {"7:30: want a newline, ',' or '}'"},
		"no-applications.bicep":         {"declares no Microsoft.Graph/applications@v1.0 resource"},
	}
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.bicep"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixturesDir, err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("add %s to the table of TestMainBicepCheckFails", name)
			}
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := checkMainBicep(ts, src)
			if len(got) != len(w) {
				t.Fatalf("%d problems, want %d:\n%s", len(got), len(w), strings.Join(got, "\n"))
			}
			for i := range w {
				if !strings.Contains(got[i], w[i]) {
					t.Errorf("problem %d = %s\nwant it to contain %s", i, got[i], w[i])
				}
			}
		})
	}
}

func TestBicepConfigCheckFails(t *testing.T) {
	ts := graphTypes(t)
	tests := []struct{ name, config, want string }{
		{"good, with comments", `{
  // the Graph extension, v1.0 endpoint
  "extensions": { /* alias */ "microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0" }
}`, ""},
		{"beta endpoint", `{"extensions": {"microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/beta:1.0.0"}}`, `extensions.microsoftGraphV1 = "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/beta:1.0.0"`},
		{"another version", `{"extensions": {"microsoftGraphV1": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:0.2.0-preview"}}`, "want \"" + graphExtensionRef},
		{"another alias", `{"extensions": {"graph": "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"}}`, `extensions.microsoftGraphV1 = ""`},
		{"not JSON", `{"extensions": `, "bicepconfig.json: unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkBicepConfig(ts, []byte(tt.config))
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("want no problem, got:\n%s", strings.Join(got, "\n"))
			case tt.want != "" && (len(got) != 1 || !strings.Contains(got[0], tt.want)):
				t.Errorf("want one problem with %s, got:\n%s", tt.want, strings.Join(got, "\n"))
			}
		})
	}
}
