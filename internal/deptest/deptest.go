package deptest

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Module is entrakit's module path.
const Module = "github.com/entrakit/entrakit"

// Package is one node of the graph: its direct imports (including those of its
// tests) and everything it depends on transitively when built.
type Package struct {
	Path    string
	Imports []string
	Deps    []string
}

// Rule forbids an edge. A package matched by From must not depend on a package
// matched by To, directly or (unless DirectOnly) transitively.
type Rule struct {
	Name       string
	From       func(pkg string) bool
	To         func(dep string) bool
	DirectOnly bool
}

// Violation is one forbidden edge found in a graph.
type Violation struct {
	Rule string
	From string
	To   string
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s -> %s", v.Rule, v.From, v.To) }

func is(path string) func(string) bool {
	return func(p string) bool { return p == path }
}

func but(f, except func(string) bool) func(string) bool {
	return func(p string) bool { return f(p) && !except(p) }
}

func under(prefix string) func(string) bool {
	return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
}

func anyOf(fs ...func(string) bool) func(string) bool {
	return func(p string) bool {
		for _, f := range fs {
			if f(p) {
				return true
			}
		}
		return false
	}
}

// ours matches entrakit's own packages except those matched by except.
func ours(except func(string) bool) func(string) bool {
	return func(p string) bool { return entrakit(p) && !except(p) }
}

var (
	gin      = anyOf(under("github.com/gin-gonic/gin"))
	msgraph  = anyOf(under("github.com/microsoftgraph/msgraph-sdk-go"), under("github.com/microsoftgraph/msgraph-sdk-go-core"))
	entrakit = under(Module)
	entra    = under(Module + "/entra")
	devt     = under(Module + "/entra/devtenant")
	// devtenanttest starts dev tenants from infra's manifest: the one
	// edge out of devtenant allowed, to a package that imports nothing.
	devtTest = is(Module + "/entra/devtenant/devtenanttest")
	infra    = under(Module + "/infra")
	graphapi = under(Module + "/graphapi")
	entractl = under(Module + "/cmd/entractl")
	// graphUsers may depend on msgraph-sdk-go, but only through graphapi.
	graphUsers = anyOf(graphapi, under(Module+"/cmd"), under(Module+"/webapp"), under(Module+"/daemon"))
	// msgraphBuilders are msgraph-sdk-go's root package and its request
	// builders (users, groups, applications, ...): all of the SDK but
	// models with its subpackages (odataerrors); msgraph-sdk-go-core is
	// another module. The root pulls in all 87 packages and the builders
	// carry every navigation property of Graph: minutes of compiling.
	// graphapi builds its few requests with kiota over models instead.
	msgraphBuilders = but(under("github.com/microsoftgraph/msgraph-sdk-go"), under("github.com/microsoftgraph/msgraph-sdk-go/models"))
)

const devtIsolated = "devtenant must not import other entrakit packages"

// entractlLight: a terminal client people build first, in seconds, not
// after msgraph-sdk-go's minutes (it calls Graph with net/http).
const entractlLight = "entractl must not depend on msgraph-sdk-go or gin"

// Rules returns the dependency rules of DESIGN.md.
func Rules() []Rule {
	return []Rule{
		{Name: "entra must not import gin", From: entra, To: gin},
		{Name: "entra must not import msgraph-sdk-go", From: entra, To: msgraph},
		{Name: devtIsolated, From: but(devt, devtTest), To: ours(devt)},
		{Name: devtIsolated, From: devtTest, To: ours(anyOf(devt, infra))},
		{Name: "infra must not import entrakit packages", From: infra, To: ours(infra)},
		{Name: "devtenant must not import msgraph-sdk-go", From: devt, To: msgraph},
		{Name: "only graphapi, cmd, webapp and daemon may depend on msgraph-sdk-go", From: ours(graphUsers), To: msgraph},
		{Name: "only graphapi imports msgraph-sdk-go directly", From: ours(graphapi), To: msgraph, DirectOnly: true},
		{Name: "of msgraph-sdk-go only models is built (no root, no request builders)", From: entrakit, To: msgraphBuilders},
		{Name: entractlLight, From: entractl, To: anyOf(msgraph, gin)},
	}
}

// Check returns every violation of rules in graph, sorted.
func Check(graph []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range graph {
		for _, r := range rules {
			if !r.From(p.Path) {
				continue
			}
			edges := p.Imports
			if !r.DirectOnly {
				edges = append(append([]string(nil), p.Imports...), p.Deps...)
			}
			seen := map[string]bool{}
			for _, d := range edges {
				if d != p.Path && r.To(d) && !seen[d] {
					seen[d] = true
					out = append(out, Violation{r.Name, p.Path, d})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Load runs `go list -deps` in dir over patterns and returns the module's own
// packages with their direct (and test) imports and transitive deps.
func Load(dir string, patterns ...string) ([]Package, error) {
	args := append([]string{"list", "-e", "-f",
		`{{.ImportPath}}|{{join .Imports ","}},{{join .TestImports ","}},{{join .XTestImports ","}}|{{join .Deps ","}}`},
		patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("deptest: go list: %v: %s", err, stderr.Bytes())
	}
	var pkgs []Package
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), "|", 3)
		if len(parts) != 3 || !entrakit(parts[0]) {
			continue
		}
		pkgs = append(pkgs, Package{Path: parts[0], Imports: split(parts[1]), Deps: split(parts[2])})
	}
	return pkgs, sc.Err()
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}
