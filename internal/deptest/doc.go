// Package deptest enforces entrakit's dependency direction.
//
// Its one job is to turn the rules of DESIGN.md into a check over the package
// graph that `go list -deps` reports: entra/... never reaches gin or
// msgraph-sdk-go, entra/devtenant reaches no other entrakit package (except
// devtenanttest, which reads infra's manifest; infra imports none), only
// graphapi imports msgraph-sdk-go (cmd/*, webapp and daemon may depend on it
// only through graphapi), and of msgraph-sdk-go only models (and its
// subpackages, such as odataerrors) is built, beside msgraph-sdk-go-core:
// the root package and the request builders take minutes to compile. The
// rules are data ([Rules]) checked by [Check], so a unit test can prove they
// fail on a deliberately bad graph.
package deptest
