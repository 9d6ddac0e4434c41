package webapp

import (
	"strings"
	"testing"
)

// TestDevHomeTrustSteps: the one-liners that trust the CA fit the OS the
// app runs on (the browser's, in dev mode), quote the path for the shell,
// and Firefox's steps come on every OS.
func TestDevHomeTrustSteps(t *testing.T) {
	tests := []struct {
		goos, caFile string
		want         []string // commands, in order
	}{
		{"linux", "/home/dev/app/.devtenant/ca.pem", []string{
			"sudo cp /home/dev/app/.devtenant/ca.pem /usr/local/share/ca-certificates/entrakit-devtenant.crt && sudo update-ca-certificates",
			"sudo cp /home/dev/app/.devtenant/ca.pem /etc/pki/ca-trust/source/anchors/entrakit-devtenant.pem && sudo update-ca-trust",
			"certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n entrakit-devtenant -i /home/dev/app/.devtenant/ca.pem",
		}},
		{"linux", "/home/dev/my app/it's/ca.pem", []string{
			`sudo cp '/home/dev/my app/it'\''s/ca.pem' /usr/local/share/ca-certificates/entrakit-devtenant.crt && sudo update-ca-certificates`,
			`sudo cp '/home/dev/my app/it'\''s/ca.pem' /etc/pki/ca-trust/source/anchors/entrakit-devtenant.pem && sudo update-ca-trust`,
			`certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n entrakit-devtenant -i '/home/dev/my app/it'\''s/ca.pem'`,
		}},
		{"darwin", "/Users/dev/app/.devtenant/ca.pem", []string{
			"sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain /Users/dev/app/.devtenant/ca.pem",
		}},
		{"windows", `C:\Users\dev\app\.devtenant\ca.pem`, []string{`certutil -user -addstore Root "C:\Users\dev\app\.devtenant\ca.pem"`}},
		{"plan9", "/usr/dev/ca.pem", nil},
	}
	for _, tt := range tests {
		t.Run(tt.goos+" "+tt.caFile, func(t *testing.T) {
			steps := trustSteps(tt.goos, tt.caFile)
			if len(steps) != len(tt.want)+1 {
				t.Fatalf("%d steps, want %d: %+v", len(steps), len(tt.want)+1, steps)
			}
			for i, w := range tt.want {
				if steps[i].Command != w {
					t.Errorf("step %d (%s) = %q, want %q", i, steps[i].Where, steps[i].Command, w)
				}
			}
			if last := steps[len(steps)-1]; last.Where != "Firefox" || !strings.Contains(last.Steps, "Authorities → Import") {
				t.Errorf("last step = %+v, want Firefox's", last)
			}
		})
	}
}

// TestNewDevHome: no DevModeInfo, no section; the hints group the personas
// by what they show, leaving out the ordinary members, and a CA kept
// nowhere is named by the download's file name.
func TestNewDevHome(t *testing.T) {
	if h := newDevHome(nil, "linux"); h != nil {
		t.Fatalf("newDevHome(nil) = %+v", h)
	}
	h := newDevHome(&DevModeInfo{Personas: []DevPersona{
		{Name: "Adele", Roles: []string{"Reader"}},
		{Name: "Alex"},
		{Name: "Boss", Roles: []string{"Admin"}, Admin: true},
		{Name: "Lidia", Roles: []string{"Reader"}},
		{Name: "Lynne", Roles: []string{"Reader"}, Disabled: true},
		{Name: "Megan", Roles: []string{"Admin"}},
		{Name: "Pat", Guest: true},
	}}, "linux")
	var got []string
	for _, hint := range h.Hints {
		var names []string
		for _, p := range hint.Who {
			names = append(names, p.Name)
		}
		got = append(got, strings.Join(names, "+")+": "+strings.SplitN(hint.What, ":", 2)[0])
	}
	want := []string{
		"Boss: a tenant administrator",
		"Megan: the Admin app role, in the ID token's roles claim",
		"Adele+Lidia: the Reader app role, in the ID token's roles claim",
		"Lynne: a disabled account",
		"Pat: a B2B guest from another organization, signing in with the home account",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("hints:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if h.CADownload != "" || h.CAFile != "" || !strings.Contains(h.Trust[0].Command, "sudo cp entrakit-devtenant-ca.pem ") {
		t.Errorf("without a CA file: download %q, file %q, first step %q", h.CADownload, h.CAFile, h.Trust[0].Command)
	}
}
