// Package infra holds entrakit's infrastructure as code: the Bicep that
// provisions the app registrations in a real tenant and the app-registration
// manifest (app-registration.json) that both the Bicep and the dev tenant read.
//
// The Go package only embeds the manifest, so binaries carry it.
package infra

import _ "embed"

//go:embed app-registration.json
var appRegistration string

// AppRegistration returns the app-registration manifest (JSON).
func AppRegistration() []byte { return []byte(appRegistration) }
