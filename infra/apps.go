package infra

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// AppIDs are the client ids of entrakit's apps in infra's manifest. The dev
// tenant registers them as given; a real tenant assigns its own.
type AppIDs struct {
	WebApp string // entrakit-webapp: the web app and its API
	SPA    string // entrakit-spa
	Daemon string // entrakit-daemon
	CLI    string // entrakit-cli: entractl, a public client
}

// Apps returns the app ids of AppRegistration().
func Apps() AppIDs { return manifestApps() }

// manifestApps parses the embedded manifest once. It cannot fail at run
// time unless the build embeds a manifest without entrakit's apps, which
// TestApps catches.
var manifestApps = sync.OnceValue(func() AppIDs {
	ids, err := ParseAppIDs(AppRegistration())
	if err != nil {
		panic(err)
	}
	return ids
})

// ParseAppIDs reads entrakit's app ids from an app-registration manifest,
// by each app's uniqueName. It reports every missing app.
func ParseAppIDs(manifest []byte) (AppIDs, error) {
	var m struct {
		Applications []struct {
			UniqueName string `json:"uniqueName"`
			AppID      string `json:"appId"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return AppIDs{}, fmt.Errorf("infra: manifest: %w", err)
	}
	byName := map[string]string{}
	for _, a := range m.Applications {
		byName[a.UniqueName] = a.AppID
	}
	var ids AppIDs
	var errs []error
	for _, f := range []struct {
		name string
		id   *string
	}{{"entrakit-webapp", &ids.WebApp}, {"entrakit-spa", &ids.SPA}, {"entrakit-daemon", &ids.Daemon}, {"entrakit-cli", &ids.CLI}} {
		if *f.id = byName[f.name]; *f.id == "" {
			errs = append(errs, fmt.Errorf("infra: manifest: no application %q with an appId", f.name))
		}
	}
	return ids, errors.Join(errs...)
}
