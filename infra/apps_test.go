package infra_test

import (
	"strings"
	"testing"

	"github.com/entrakit/entrakit/infra"
)

func TestParseAppIDs(t *testing.T) {
	const full = `{"applications": [
		{"uniqueName": "entrakit-webapp", "appId": "w"}, {"uniqueName": "entrakit-spa", "appId": "s"},
		{"uniqueName": "entrakit-daemon", "appId": "d"}, {"uniqueName": "entrakit-cli", "appId": "c"}]}`
	tests := []struct {
		name     string
		manifest string
		want     infra.AppIDs
		errs     []string
	}{
		{"all four", full, infra.AppIDs{WebApp: "w", SPA: "s", Daemon: "d", CLI: "c"}, nil},
		{"two missing, one without an id", `{"applications": [{"uniqueName": "entrakit-webapp", "appId": "w"}, {"uniqueName": "entrakit-daemon"}]}`,
			infra.AppIDs{WebApp: "w"}, []string{`"entrakit-spa"`, `"entrakit-daemon"`, `"entrakit-cli"`}},
		{"not JSON", `{"applications": [`, infra.AppIDs{}, []string{"infra: manifest:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := infra.ParseAppIDs([]byte(tt.manifest))
			if got != tt.want {
				t.Errorf("ids = %+v, want %+v", got, tt.want)
			}
			if (err != nil) != (len(tt.errs) > 0) {
				t.Fatalf("err = %v", err)
			}
			for _, e := range tt.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error lacks %s:\n%v", e, err)
				}
			}
		})
	}
}
