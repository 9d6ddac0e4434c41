package deptest

import (
	"fmt"
	"sort"
	"testing"
)

// TestModule checks the real module: this is the test that fails when someone
// adds a forbidden import.
func TestModule(t *testing.T) {
	graph, err := Load("../..", "./...")
	if err != nil {
		t.Fatal(err)
	}
	if len(graph) == 0 {
		t.Fatal("go list found no entrakit packages")
	}
	for _, v := range Check(graph, Rules()) {
		t.Errorf("forbidden dependency: %s", v)
	}
}

// TestRulesCatchForbiddenEdges proves each rule can fail, on a deliberately
// bad fake graph, and that the allowed edges pass.
func TestRulesCatchForbiddenEdges(t *testing.T) {
	const (
		gin     = "github.com/gin-gonic/gin"
		msgraph = "github.com/microsoftgraph/msgraph-sdk-go"
		msmodel = "github.com/microsoftgraph/msgraph-sdk-go/models"
		mserror = "github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
		msusers = "github.com/microsoftgraph/msgraph-sdk-go/users"
		mscore  = "github.com/microsoftgraph/msgraph-sdk-go-core"
		builder = "of msgraph-sdk-go only models is built (no root, no request builders)"
		msal    = "github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	)
	m := func(p string) string { return Module + "/" + p }
	tests := []struct {
		name    string
		pkg     Package
		wantHit []string // rules expected to fire
	}{
		{"entra imports gin", Package{Path: m("entra"), Imports: []string{gin}, Deps: []string{gin}},
			[]string{"entra must not import gin"}},
		{"entra/tokencache reaches gin transitively", Package{Path: m("entra/tokencache"), Deps: []string{gin + "/render"}},
			[]string{"entra must not import gin"}},
		{"entra imports msgraph", Package{Path: m("entra"), Imports: []string{msgraph}, Deps: []string{msgraph}},
			[]string{"entra must not import msgraph-sdk-go", "only graphapi, cmd, webapp and daemon may depend on msgraph-sdk-go", "only graphapi imports msgraph-sdk-go directly", builder}},
		{"devtenant imports entra", Package{Path: m("entra/devtenant"), Imports: []string{m("entra")}, Deps: []string{m("entra")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"devtenant test imports graphapi", Package{Path: m("entra/devtenant"), Imports: []string{m("graphapi")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"devtenant imports infra", Package{Path: m("entra/devtenant"), Imports: []string{m("infra")}, Deps: []string{m("infra")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"a devtenant subpackage imports infra", Package{Path: m("entra/devtenant/identity"), Deps: []string{m("infra")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"devtenanttest imports entra", Package{Path: m("entra/devtenant/devtenanttest"), Imports: []string{m("infra"), m("entra")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"devtenanttest reaches devmode in its tests", Package{Path: m("entra/devtenant/devtenanttest"), Imports: []string{m("internal/devmode")}},
			[]string{"devtenant must not import other entrakit packages"}},
		{"infra imports devtenant", Package{Path: m("infra"), Imports: []string{m("entra/devtenant")}, Deps: []string{m("entra/devtenant")}},
			[]string{"infra must not import entrakit packages"}},
		{"devtenant imports msgraph core", Package{Path: m("entra/devtenant"), Deps: []string{mscore}},
			[]string{"entra must not import msgraph-sdk-go", "devtenant must not import msgraph-sdk-go", "only graphapi, cmd, webapp and daemon may depend on msgraph-sdk-go"}},
		{"webapp imports msgraph directly", Package{Path: m("webapp"), Imports: []string{msmodel}, Deps: []string{msmodel}},
			[]string{"only graphapi imports msgraph-sdk-go directly"}},
		{"tokencache... internal reaches msgraph", Package{Path: m("internal/envconfig"), Deps: []string{msmodel}},
			[]string{"only graphapi, cmd, webapp and daemon may depend on msgraph-sdk-go"}},
		{"graphapi imports the SDK's root", Package{Path: m("graphapi"), Imports: []string{msgraph}, Deps: []string{msgraph, msusers, msmodel, mscore}},
			[]string{builder}},
		{"graphapi imports a request builder", Package{Path: m("graphapi"), Imports: []string{msusers, msmodel}, Deps: []string{msusers, msmodel}},
			[]string{builder}},
		{"graphapi's tests import the SDK's root", Package{Path: m("graphapi"), Imports: []string{msgraph}},
			[]string{builder}},
		{"webapp reaches a request builder through graphapi", Package{Path: m("webapp"), Imports: []string{m("graphapi")}, Deps: []string{m("graphapi"), msusers}},
			[]string{builder}},

		{"entractl reaches msgraph through graphapi", Package{Path: m("cmd/entractl"), Imports: []string{m("graphapi")}, Deps: []string{m("graphapi"), msmodel}},
			[]string{"entractl must not depend on msgraph-sdk-go or gin"}},
		{"entractl reaches gin through webapp", Package{Path: m("cmd/entractl"), Deps: []string{gin}},
			[]string{"entractl must not depend on msgraph-sdk-go or gin"}},
		{"graphapi imports models and core (allowed)", Package{Path: m("graphapi"), Imports: []string{msmodel, mserror, mscore},
			Deps: []string{msmodel, mserror, mscore, mscore + "/authentication"}}, nil},
		{"webapp through graphapi (allowed)", Package{Path: m("webapp"), Imports: []string{m("graphapi"), gin}, Deps: []string{m("graphapi"), msmodel, gin}}, nil},
		{"cmd/daemon through graphapi (allowed)", Package{Path: m("cmd/daemon"), Imports: []string{m("daemon")}, Deps: []string{m("daemon"), m("graphapi"), msmodel}}, nil},
		{"entra imports MSAL (allowed)", Package{Path: m("entra"), Imports: []string{msal}, Deps: []string{msal}}, nil},
		{"devtenant imports its own subpackage (allowed)", Package{Path: m("entra/devtenant"), Imports: []string{m("entra/devtenant/jwt")}}, nil},
		{"devtenanttest imports devtenant and infra (allowed)", Package{Path: m("entra/devtenant/devtenanttest"),
			Imports: []string{m("entra/devtenant"), m("infra")}, Deps: []string{m("entra/devtenant"), m("entra/devtenant/directory"), m("infra")}}, nil},
		{"devtenant tests import devtenanttest (allowed)", Package{Path: m("entra/devtenant"), Imports: []string{m("entra/devtenant/devtenanttest")}}, nil},
		{"entra imports devtenant in tests (allowed)", Package{Path: m("entra"), Imports: []string{m("entra/devtenant")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range Check([]Package{tt.pkg}, Rules()) {
				got = append(got, v.Rule)
			}
			if fmt.Sprint(dedupe(got)) != fmt.Sprint(dedupe(tt.wantHit)) {
				t.Errorf("rules fired = %q\nwant        %q", dedupe(got), dedupe(tt.wantHit))
			}
		})
	}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
