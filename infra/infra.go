// Package infra holds entrakit's infrastructure as code: the
// app-registration manifest (app-registration.json, in the shape of Graph's
// application resource) that the dev tenant reads today and the Bicep that
// will provision the same registrations in a real tenant (not written yet).
//
// The Go package only embeds the manifest, so binaries carry it.
package infra

import _ "embed"

//go:embed app-registration.json
var appRegistration string

// AppRegistration returns the app-registration manifest (JSON).
func AppRegistration() []byte { return []byte(appRegistration) }
